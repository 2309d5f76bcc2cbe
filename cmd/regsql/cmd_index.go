package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/walker"
)

type indexOptions struct {
	Root    string
	Config  string
	DB      string
	Workers int
	Verify  bool
	Full    bool
	Quiet   bool
	Store   storeOptions
}

func indexCommand(e *env) *cli.Command {
	var o indexOptions
	return &cli.Command{
		Name:      "index",
		Usage:     "walk a registry's storage into the index database",
		UsageText: "regsql index (--root DIR | --config FILE) [--db FILE] [--full]",
		Description: `Reads the registry's storage (repositories, tags and their history, manifest
revisions, layer links, uploads, blobs, manifest and config bodies) into a
SQLite database. Anomalies (dangling links, corrupt files, unreadable
directories) go to the problems table; the walk never stops at one bad file.

When --db already holds an index of the same --root, made by this version's
schema, index is incremental: it reads again only the repositories and blob
directories that changed since that index's last run started, and updates the
database in one transaction. Otherwise (or with --full, --verify or --config)
it reads everything into a new database built next to --db and renamed into
place when complete. Either way an interrupted run leaves the previous index
as it was. The first line on stderr says which, and why.

--config reads the storage through the registry's own driver (filesystem, s3,
gcs, azure), with its REGISTRY_STORAGE_* environment overrides. On S3 the walk
lists the bucket flat and reads only link files and manifests, --concurrency at
once; see docs/object-storage.md.

Examples:
   regsql index --root /var/lib/registry
   regsql index --root /var/lib/registry --full
   regsql index --config /etc/docker/registry/config.yml --db /tmp/reg.db
   REGISTRY_STORAGE_S3_SECRETKEY=... regsql index --config config.yml --rps 500`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "root", Usage: "the registry's storage `DIR` (its rootdirectory, or any directory down to docker/registry/v2)", Destination: &o.Root},
			&cli.StringFlag{Name: "config", Usage: "the registry's config.yml `FILE`; its storage section says where to read", Destination: &o.Config},
			dbFlag(&o.DB),
			&cli.IntFlag{Name: "workers", Usage: "parallel readers (0: sized to the machine)", Destination: &o.Workers},
			&cli.BoolFlag{Name: "verify", Usage: "also read every revision, layer and tag history link and list every link and blob directory, to report stray files and hand-edited links (slower; see docs/performance.md)", Destination: &o.Verify},
			&cli.BoolFlag{Name: "full", Usage: "read everything into a new database, even when --db holds an index this run could update", Destination: &o.Full},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress and no summary", Destination: &o.Quiet},
		}, storeFlags(&o.Store)...),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{fmt.Sprintf("index takes no arguments, got %q (did you mean --root %s?)", c.Args().First(), c.Args().First())}
			}
			return runIndex(c.Context, e, o)
		},
	}
}

func runIndex(ctx context.Context, e *env, o indexOptions) error {
	if (o.Root == "") == (o.Config == "") {
		return usageError{"index needs exactly one of --root DIR or --config FILE"}
	}
	if err := o.Store.check(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()

	var (
		st     walker.Storage
		root   string
		driver string
	)
	if o.Root != "" {
		ds, err := walker.OpenRoot(o.Root)
		if err != nil {
			return err
		}
		// The absolute path: an incremental run checks that the index is
		// of this storage, whatever the working directory.
		root, err = filepath.Abs(o.Root)
		if err != nil {
			return fmt.Errorf("resolve --root %q: %w", o.Root, err)
		}
		st, driver = ds, "filesystem"
	} else {
		ds, name, err := walker.OpenConfig(ctx, o.Config, o.Store.driverOptions())
		if err != nil {
			return err
		}
		st, root, driver = ds, o.Config, name
	}

	bar := newProgressBar(e.stderr, o.Quiet)
	if rc, ok := st.(requestCounter); ok {
		bar.requests = rc.Requests
	}
	sum, err := index.Build(ctx, o.DB, st, index.BuildOptions{
		Root:     root,
		Driver:   driver,
		Version:  version,
		Workers:  o.Workers,
		Verify:   o.Verify,
		Full:     o.Full,
		Progress: bar.update,
		Notice: func(s string) {
			if !o.Quiet {
				bar.line(s)
			}
		},
	})
	bar.done()
	if err != nil {
		return err
	}
	if !o.Quiet {
		how := "indexed"
		if sum.Incremental {
			how = fmt.Sprintf("updated (%s read again):", plural(sum.ReposRead, "repo"))
		}
		fmt.Fprintf(e.stderr, "%s %s, %s, %s, %s (%s), %s in %.1fs into %s\n",
			how, plural(sum.Repos, "repo"), plural(sum.Tags, "tag"), plural(sum.Manifests, "manifest"),
			plural(sum.Blobs, "blob"), humanBytes(sum.BlobBytes), plural(sum.Problems, "problem"),
			sum.Duration.Seconds(), o.DB)
		if r := requestSummary(st); r != "" {
			fmt.Fprintf(e.stderr, "%s storage: %s\n", driver, r)
		}
		if sum.Problems > 0 {
			fmt.Fprintf(e.stderr, "see them with: regsql query \"SELECT kind, path, message FROM problems\"\n")
		}
	}
	return nil
}

func onUsageError(_ *cli.Context, err error, _ bool) error {
	return usageError{err.Error()}
}

// plural says "1 tag", "2 tags".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// humanBytes formats n in binary units, e.g. 1.5 GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
