package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/metrics"
)

type serveOptions struct {
	Addr    string
	DB      string
	Root    string
	Config  string
	Reindex time.Duration
	Workers int
	Store   storeOptions
}

func serveCommand(e *env) *cli.Command {
	var o serveOptions
	return &cli.Command{
		Name:      "serve",
		Usage:     "serve the index's metrics on /metrics and its health on /healthz, re-indexing on an interval",
		UsageText: "regsql serve --addr HOST:PORT [(--root DIR | --config FILE) [--reindex 10m]] [--db FILE]",
		Description: `Serves what "regsql metrics" prints on /metrics, for Prometheus to scrape, and
/healthz (200 while the index opens; it names a failed re-index). With --root
or --config it re-indexes the storage at start and then --reindex after each
run ends; a scrape always reads a complete index, the old one until the new
one is renamed into place, and ingested pulls are kept. Without them it serves
--db as it is. Runs until interrupted.

Examples:
   regsql serve --addr 127.0.0.1:9590 --root /var/lib/registry --reindex 10m
   regsql serve --addr :9590 --config /etc/docker/registry/config.yml --db /var/lib/regsql/regsql.db`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "addr", Usage: "listen on `HOST:PORT` (port 0 picks a free one)", Required: true, Destination: &o.Addr},
			dbFlag(&o.DB),
			&cli.StringFlag{Name: "root", Usage: "re-index the registry's storage `DIR`", Destination: &o.Root},
			&cli.StringFlag{Name: "config", Usage: "re-index the storage the registry's config.yml `FILE` names", Destination: &o.Config},
			&cli.DurationFlag{Name: "reindex", Usage: "time between re-index runs (0: once, at start)", Value: 10 * time.Minute, Destination: &o.Reindex},
			&cli.IntFlag{Name: "workers", Usage: "parallel readers for re-indexing (0: sized to the machine)", Destination: &o.Workers},
		}, storeFlags(&o.Store)...),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{fmt.Sprintf("serve takes no arguments, got %q", c.Args().First())}
			}
			return runServe(c.Context, e, o)
		},
	}
}

func runServe(ctx context.Context, e *env, o serveOptions) error {
	if o.Root != "" && o.Config != "" {
		return usageError{"serve takes at most one of --root DIR or --config FILE"}
	}
	if o.Reindex < 0 {
		return usageError{fmt.Sprintf("--reindex %s: want a duration of 0 or more", o.Reindex)}
	}
	if err := o.Store.check(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := metrics.ServerOptions{DBPath: o.DB, Interval: o.Reindex,
		Log: func(msg string) { fmt.Fprintf(e.stderr, "%s %s\n", time.Now().Format(time.RFC3339), msg) }}
	if o.Root != "" || o.Config != "" {
		st, driver, err := openStorage(ctx, o.Root, o.Config, o.Store.driverOptions())
		if err != nil {
			return err
		}
		root := o.Root + o.Config // the one given
		opts.Reindex = func(ctx context.Context) error {
			_, err := index.Build(ctx, o.DB, st, index.BuildOptions{Root: root, Driver: driver, Version: version, Workers: o.Workers})
			return err
		}
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("listen on %q: %w", o.Addr, err)
	}
	srv := metrics.NewServer(opts)
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	fmt.Fprintf(e.stderr, "serving metrics of %s on http://%s/metrics\n", o.DB, ln.Addr())
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	stop()
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = hs.Shutdown(shutdown)
	runErr := <-ran
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics on %s: %w", ln.Addr(), serveErr)
	}
	return runErr
}
