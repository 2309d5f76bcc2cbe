package metrics

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/queries"
	"github.com/regsql/regsql/queries/builtin"
)

// gcModes are the built-in reports that replay the registry's garbage
// collector, by the mode label of regsql_unreferenced_*.
var gcModes = []struct{ mode, report string }{
	{"default", "unreferenced-blobs"},
	{"delete_untagged", "unreferenced-blobs-untagged"},
}

// Gather reads the index into metric families, sorted by name, with now as
// the time scan age is measured to.
func Gather(ctx context.Context, db *index.DB, now time.Time) ([]*dto.MetricFamily, error) {
	ms, err := read(ctx, db, now)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(constCollector(ms)); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	return mfs, nil
}

// WriteText writes metric families in the Prometheus text exposition
// format.
func WriteText(w io.Writer, mfs []*dto.MetricFamily) error {
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return fmt.Errorf("write metrics: %w", err)
		}
	}
	return nil
}

// read runs every family's SQL and the garbage collector reports.
func read(ctx context.Context, db *index.DB, now time.Time) ([]prometheus.Metric, error) {
	params := map[string]string{queries.NowParam: fmt.Sprint(now.Unix())}
	var out []prometheus.Metric
	for _, f := range families {
		desc := prometheus.NewDesc(f.name, f.help, f.labels, nil)
		rows, err := db.Query(ctx, f.sql, params)
		if err != nil {
			return nil, fmt.Errorf("read metric %s: %w", f.name, err)
		}
		for rows.Next() {
			vals := rows.Values()
			if len(vals) != len(f.labels)+1 {
				rows.Close()
				return nil, fmt.Errorf("read metric %s: %d columns, want %d", f.name, len(vals), len(f.labels)+1)
			}
			v, ok := number(vals[len(f.labels)])
			if !ok {
				continue
			}
			labels := make([]string, len(f.labels))
			for i := range labels {
				labels[i] = fmt.Sprint(vals[i])
			}
			m, err := prometheus.NewConstMetric(desc, f.typ, v, labels...)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("read metric %s: %w", f.name, err)
			}
			out = append(out, m)
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read metric %s: %w", f.name, err)
		}
		rows.Close()
	}
	gc, err := unreferenced(ctx, db, params)
	if err != nil {
		return nil, err
	}
	return append(out, gc...), nil
}

// unreferenced runs the built-in reports that replay the registry's
// garbage collector, exactly, and counts what each would delete.
func unreferenced(ctx context.Context, db *index.DB, params map[string]string) ([]prometheus.Metric, error) {
	lib, err := queries.Load(builtin.FS())
	if err != nil {
		return nil, err
	}
	blobs := prometheus.NewDesc("regsql_unreferenced_blobs",
		`Blobs the registry's garbage collector would delete, by mode: "default" (garbage-collect) or "delete_untagged" (--delete-untagged)`,
		[]string{"mode"}, nil)
	bytes := prometheus.NewDesc("regsql_unreferenced_bytes",
		"Bytes the registry's garbage collector would free, by mode", []string{"mode"}, nil)
	var out []prometheus.Metric
	for _, m := range gcModes {
		q, ok := lib.Get(m.report)
		if !ok {
			return nil, fmt.Errorf("read unreferenced blobs: no built-in report %q", m.report)
		}
		rows, err := db.Query(ctx, q.SQL, params)
		if err != nil {
			return nil, fmt.Errorf("read unreferenced blobs (%s): %w", m.report, err)
		}
		size := -1
		for i, c := range rows.Columns() {
			if c == "size" {
				size = i
			}
		}
		if size < 0 {
			rows.Close()
			return nil, fmt.Errorf("read unreferenced blobs: report %q has no size column", m.report)
		}
		var n, total float64
		for rows.Next() {
			n++
			if v, ok := number(rows.Values()[size]); ok {
				total += v
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read unreferenced blobs (%s): %w", m.report, err)
		}
		out = append(out,
			prometheus.MustNewConstMetric(blobs, prometheus.GaugeValue, n, m.mode),
			prometheus.MustNewConstMetric(bytes, prometheus.GaugeValue, total, m.mode))
	}
	return out, nil
}

// number reads an SQL value as a metric value; NULL is none.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// constCollector hands the registry metrics read beforehand, so that a
// failed query is an error for the caller rather than a half-empty scrape.
type constCollector []prometheus.Metric

func (c constCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c constCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c {
		ch <- m
	}
}
