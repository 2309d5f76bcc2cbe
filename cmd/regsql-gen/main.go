// Command regsql-gen writes a synthetic distribution registry storage tree,
// deterministic from a seed, for tests and benchmarks (see
// docs/generator.md):
//
//	regsql-gen -out DIR [-preset small|medium|large] [-repos N] [-seed S] [-workers N] [-quiet]
//
// DIR becomes the registry's storage rootdirectory (DIR/docker/registry/v2).
// -repos and -seed override the preset's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/regsql/regsql/internal/gen"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "regsql-gen: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	out     string
	preset  string
	repos   int
	seed    int64
	workers int
	quiet   bool
}

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("regsql-gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "out", "", "directory to write; becomes the storage rootdirectory (required)")
	fs.StringVar(&o.preset, "preset", "", "tree size: "+strings.Join(gen.PresetNames(), ", "))
	fs.IntVar(&o.repos, "repos", 0, "number of repositories (overrides the preset's)")
	fs.Int64Var(&o.seed, "seed", 1, "seed: the same seed and sizes give the same tree")
	fs.IntVar(&o.workers, "workers", 0, "repositories written at once (0: twice the CPUs)")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	p := gen.Params{Seed: o.seed, Repos: o.repos}
	if o.preset != "" {
		preset, ok := gen.Preset(o.preset)
		if !ok {
			return fmt.Errorf("unknown preset %q (want one of %s)", o.preset, strings.Join(gen.PresetNames(), ", "))
		}
		if !set["repos"] {
			p.Repos = preset.Repos
		}
		if !set["seed"] {
			p.Seed = preset.Seed
		}
	}
	if o.out == "" {
		return errors.New("-out is required")
	}
	if p.Repos <= 0 {
		return errors.New("-repos or -preset is required")
	}
	p.Workers = o.workers
	if !o.quiet {
		p.Progress = progress(stderr)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	st, err := gen.Generate(ctx, o.out, p)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "wrote %s (seed %d) in %s\n", o.out, p.Seed, elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "  %d repositories (+%d abandoned directories), %d tags (%d moved), %d uploads\n",
		st.Repositories, st.Abandoned, st.Tags, st.MovedTags, st.Uploads)
	fmt.Fprintf(stdout, "  %d manifests (%d indexes, %d artifacts), %d revisions (%d untagged)\n",
		st.Manifests, st.Indexes, st.Artifacts, st.Revisions, st.Untagged)
	fmt.Fprintf(stdout, "  %d blobs (%d orphans), %d link files (%d layer, %d tag, %d tag index)\n",
		st.Blobs, st.OrphanBlobs, st.LinkFiles, st.LayerLinks, st.TagLinks, st.IndexLinks)
	fmt.Fprintf(stdout, "  %d files, %d directories, %d bytes; %.0f files/s\n",
		st.Files, st.Dirs, st.Bytes, float64(st.Files)/elapsed.Seconds())
	return nil
}

// progress reports every 5% of the repositories on w.
func progress(w io.Writer) func(done, total int) {
	next := 0
	return func(done, total int) {
		if pct := done * 100 / total; pct >= next || done == total {
			fmt.Fprintf(w, "\r%3d%% %d/%d repositories", pct, done, total)
			next = pct + 5
			if done == total {
				fmt.Fprintln(w)
			}
		}
	}
}
