package ingest

import (
	"context"
	"io"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/usage"
)

// StreamOptions tunes Stream.
type StreamOptions struct {
	// BatchSize is the number of events stored in one transaction; 0 means
	// 20000. Memory grows with it, never with the input.
	BatchSize int
	// Progress, when set, is called now and then with the counts so far.
	Progress func(usage.Stats, index.UsageCounts)
}

// Stream reads r (usage.Scan: log lines or notifications, gzip or not) and
// stores its events through w, then records the source as read to its end.
// Lines it cannot read are counted and skipped. On an error from storing,
// or when ctx is done, what was stored stays stored: reading the input again
// adds only the rest.
func Stream(ctx context.Context, w *index.UsageWriter, r io.Reader, opts StreamOptions) (usage.Stats, error) {
	size := opts.BatchSize
	if size <= 0 {
		size = 20_000
	}
	var (
		batch = make([]usage.Event, 0, size)
		last  usage.Stats
	)
	flush := func() error {
		if err := w.Write(ctx, batch, progressOf(last)); err != nil {
			return err
		}
		batch = batch[:0]
		if opts.Progress != nil {
			opts.Progress(last, w.Counts())
		}
		return nil
	}
	st, err := usage.Scan(ctx, r, usage.ScanOptions{Progress: func(s usage.Stats) { last = s }}, func(ev usage.Event) error {
		batch = append(batch, ev)
		if len(batch) < size {
			return nil
		}
		return flush()
	})
	last = st
	if err != nil {
		// Keep what was read: a re-run skips it as duplicates.
		if len(batch) > 0 {
			_ = w.Write(context.WithoutCancel(ctx), batch, progressOf(st))
		}
		return st, err
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return st, err
		}
	}
	if err := w.Finish(ctx, progressOf(st)); err != nil {
		return st, err
	}
	if opts.Progress != nil {
		opts.Progress(st, w.Counts())
	}
	return st, nil
}

// progressOf is what a file source's row records: the span of its events.
func progressOf(s usage.Stats) index.UsageProgress {
	return index.UsageProgress{
		Lines: s.Lines, Skipped: s.Skipped, Malformed: s.Malformed,
		CoveredFrom: s.First, CoveredTo: s.Last,
	}
}
