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
	"github.com/regsql/regsql/ingest"
	"github.com/regsql/regsql/usage"
)

type listenOptions struct {
	DB     string
	Addr   string
	Remote string
}

func listenCommand(e *env) *cli.Command {
	var o listenOptions
	return &cli.Command{
		Name:      "listen-notifications",
		Usage:     "receive the registry's webhook notifications and store the pulls, pushes and deletes",
		UsageText: "regsql listen-notifications --addr HOST:PORT [options]",
		Description: `Serves HTTP on --addr and stores every notification envelope the registry
POSTs (any path) as "regsql ingest-log" would, answering only once it is
stored, so that the registry sends again what failed. Runs until interrupted.
Point the registry's notifications.endpoints at it (docs/usage.md has the
config). The index must exist; re-indexing while it runs loses nothing.

Examples:
   regsql listen-notifications --addr 127.0.0.1:5001 --db /var/lib/regsql/regsql.db`,
		Flags: []cli.Flag{
			dbFlag(&o.DB),
			&cli.StringFlag{Name: "addr", Usage: "listen on `HOST:PORT` (port 0 picks a free one)", Required: true, Destination: &o.Addr},
			remoteFlag(&o.Remote),
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{fmt.Sprintf("listen-notifications takes no arguments, got %q", c.Args().First())}
			}
			return runListen(c.Context, e, o)
		},
	}
}

func runListen(ctx context.Context, e *env, o listenOptions) error {
	remote, ok := usage.ParseRemoteMode(o.Remote)
	if !ok {
		return usageError{fmt.Sprintf("--remote-addr %q: want hash, drop or keep", o.Remote)}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("listen on %q: %w", o.Addr, err)
	}
	addr := ln.Addr().String()
	w, err := index.NewUsageWriter(ctx, o.DB, index.UsageSource{Name: addr, Kind: "listener"}, index.UsageOptions{Remote: remote})
	if err != nil {
		ln.Close()
		return err
	}
	rc := ingest.NewReceiver(w, ingest.ReceiverOptions{})
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stored := make(chan error, 1)
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	go func() { stored <- rc.Run(runCtx) }()
	fmt.Fprintf(e.stderr, "listening on http://%s/ for notifications, storing into %s\n", addr, o.DB)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	// Stop taking envelopes, let those in flight be stored, then stop
	// storing.
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	stopRun()
	runErr := <-stored
	if errors.Is(runErr, context.Canceled) {
		runErr = nil
	}
	s := rc.Stats()
	fmt.Fprintf(e.stderr, "stopped: %s, %s, %s, %s, %d already stored, %d malformed, %d failed\n",
		plural(int(s.Envelopes), "envelope"), plural(int(s.Stored.Pulls), "pull"), plural(int(s.Stored.BlobPulls), "blob pull"),
		plural(int(s.Stored.Pushes), "push or delete"), s.Stored.Duplicates, s.Malformed, s.Failed)
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve notifications on %s: %w", addr, serveErr)
	}
	return runErr
}
