package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/ingest"
	"github.com/regsql/regsql/usage"
)

type ingestOptions struct {
	DB     string
	Remote string
	Quiet  bool
}

func ingestCommand(e *env) *cli.Command {
	var o ingestOptions
	return &cli.Command{
		Name:      "ingest-log",
		Usage:     "store the pulls, pushes and deletes a registry's logs or saved notifications record",
		UsageText: "regsql ingest-log [options] (FILE... | -)",
		Description: `Reads the registry's log (its text format or log.formatter json; gzip files
too) or saved notification envelopes, and stores every manifest pull in
pull_events (query the pulls, tag_pulls and manifest_pulls views), blob
downloads in blob_pulls, and pushes, mounts and deletes in push_events. The
index must exist: run "regsql index" first; re-indexing keeps what was
ingested. Reading the same file twice adds nothing. Lines that are no registry
log line are counted and skipped. Pull data starts when ingestion starts: see
docs/usage.md.

Examples:
   regsql ingest-log /var/log/registry/registry.log.1.gz /var/log/registry/registry.log
   docker logs registry 2>&1 | regsql ingest-log -
   kubectl logs deploy/registry --since=24h | regsql ingest-log --remote-addr drop -`,
		Flags: []cli.Flag{
			dbFlag(&o.DB),
			remoteFlag(&o.Remote),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress and no summary", Destination: &o.Quiet},
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageError{"ingest-log needs files to read, or - for standard input"}
			}
			return runIngest(c.Context, e, o, c.Args().Slice())
		},
	}
}

// remoteFlag is --remote-addr, what is kept of a client's address.
func remoteFlag(dest *string) cli.Flag {
	return &cli.StringFlag{
		Name:        "remote-addr",
		Usage:       "what to keep of a client's address: `hash` (of the host; counts clients without storing addresses), drop, or keep",
		Value:       string(usage.RemoteHash),
		Destination: dest,
	}
}

func runIngest(ctx context.Context, e *env, o ingestOptions, files []string) error {
	remote, ok := usage.ParseRemoteMode(o.Remote)
	if !ok {
		return usageError{fmt.Sprintf("--remote-addr %q: want hash, drop or keep", o.Remote)}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	for _, name := range files {
		if err := ingestFile(ctx, e, o, remote, name); err != nil {
			return err
		}
	}
	return nil
}

func ingestFile(ctx context.Context, e *env, o ingestOptions, remote usage.RemoteMode, name string) error {
	var r io.Reader = e.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("read log: %w", err)
		}
		defer f.Close()
		r = f
	}
	w, err := index.NewUsageWriter(ctx, o.DB, index.UsageSource{Name: name, Kind: "file"}, index.UsageOptions{Remote: remote})
	if err != nil {
		return err
	}
	bar := newLineBar(e.stderr, o.Quiet, name)
	st, err := ingest.Stream(ctx, w, r, ingest.StreamOptions{Progress: bar.update})
	bar.done()
	if err != nil {
		return fmt.Errorf("ingest %q: %w", name, err)
	}
	if o.Quiet {
		return nil
	}
	c := w.Counts()
	fmt.Fprintf(e.stderr, "%s: %s, %s, %s, %s, %s already stored, %s skipped, %s malformed\n",
		name, plural(int(st.Lines), "line"), plural(int(c.Pulls), "pull"), plural(int(c.BlobPulls), "blob pull"),
		plural(int(c.Pushes), "push or delete"), fmt.Sprint(c.Duplicates), fmt.Sprint(st.Skipped), fmt.Sprint(st.Malformed))
	if st.LastError != nil {
		fmt.Fprintf(e.stderr, "%s: last malformed line: %v\n", name, st.LastError)
	}
	if !st.First.IsZero() {
		fmt.Fprintf(e.stderr, "%s: events from %s to %s\n", name, st.First.Format(time.RFC3339), st.Last.Format(time.RFC3339))
	}
	return nil
}
