package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/regsql/regsql/walker"
)

// storeOptions tune the requests to the storage of a --config registry:
// on an object store, how many are in flight and how fast they go.
type storeOptions struct {
	Concurrency int
	RPS         float64
	Retries     int
}

func storeFlags(o *storeOptions) []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "concurrency", Value: walker.DefaultConcurrency, Usage: "with --config: `N` requests to the storage in flight at once (object stores answer slowly, many at once)", Destination: &o.Concurrency},
		&cli.Float64Flag{Name: "rps", Usage: "with --config: at most `N` requests per second to the storage (0: no limit)", Destination: &o.RPS},
		&cli.IntFlag{Name: "retries", Value: walker.DefaultRetries, Usage: "with --config: try a request that failed with throttling, a 5xx or a dropped connection `N` more times, after the driver's own retries", Destination: &o.Retries},
	}
}

func (o storeOptions) check() error {
	switch {
	case o.Concurrency < 1:
		return usageError{"--concurrency must be at least 1"}
	case o.RPS < 0:
		return usageError{"--rps must not be negative"}
	case o.Retries < 0:
		return usageError{"--retries must not be negative"}
	}
	return nil
}

func (o storeOptions) driverOptions() walker.DriverOptions {
	retries := o.Retries
	if retries == 0 {
		retries = -1 // DriverOptions reads 0 as its default
	}
	return walker.DriverOptions{Concurrency: o.Concurrency, RequestsPerSecond: o.RPS, Retries: retries}
}

// requestCounter is storage that counts its requests: a DriverStorage.
type requestCounter interface{ Requests() walker.Requests }

// requestSummary says how many requests st made by kind, e.g.
// "672 requests (13 list, 659 get)"; "" for storage that does not count.
func requestSummary(st any) string {
	rc, ok := st.(requestCounter)
	if !ok {
		return ""
	}
	r := rc.Requests()
	var kinds []string
	for _, k := range []struct {
		name string
		n    int64
	}{{"list", r.List}, {"stat", r.Stat}, {"get", r.Get}, {"delete", r.Delete}, {"retried", r.Retries}} {
		if k.n > 0 {
			kinds = append(kinds, fmt.Sprintf("%d %s", k.n, k.name))
		}
	}
	s := plural(int(r.Total()), "request")
	if len(kinds) > 0 {
		s += " (" + strings.Join(kinds, ", ") + ")"
	}
	return s
}
