package main

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/metrics"
)

type metricsOptions struct {
	DB string
}

func metricsCommand(e *env) *cli.Command {
	var o metricsOptions
	return &cli.Command{
		Name:      "metrics",
		Usage:     "print the index as Prometheus metrics (text exposition format)",
		UsageText: "regsql metrics [--db FILE]",
		Description: `Prints tags, revisions, layers and sizes per repository and tag (the metrics
of docker-registry-exporter, same names and labels), bytes per repository,
what the registry's garbage collector would free in both modes, problems by
kind, the scan's age and ingested pulls. For node_exporter's textfile
collector, or see "regsql serve". docs/monitoring.md lists every metric.

Examples:
   regsql metrics > /var/lib/node_exporter/textfile/regsql.prom.tmp && mv /var/lib/node_exporter/textfile/regsql.prom.tmp /var/lib/node_exporter/textfile/regsql.prom`,
		Flags:        []cli.Flag{dbFlag(&o.DB)},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{fmt.Sprintf("metrics takes no arguments, got %q", c.Args().First())}
			}
			return runMetrics(c.Context, e, o)
		},
	}
}

func runMetrics(ctx context.Context, e *env, o metricsOptions) error {
	db, err := index.Open(ctx, o.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	mfs, err := metrics.Gather(ctx, db, time.Now())
	if err != nil {
		return err
	}
	return metrics.WriteText(e.stdout, mfs)
}
