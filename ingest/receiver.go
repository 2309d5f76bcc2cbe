package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/usage"
)

// maxEnvelopeBytes bounds a notification body; the registry sends one
// event per envelope, a few KiB.
const maxEnvelopeBytes = 16 << 20

// ReceiverOptions tunes a Receiver.
type ReceiverOptions struct {
	// FlushEvery is the longest an envelope waits to be stored with others
	// in one transaction; 0 means 200ms.
	FlushEvery time.Duration
	// Heartbeat is how often the listener's usage_sources row is brought up
	// to date when no event comes, so that covered_to says it was
	// listening; 0 means a minute.
	Heartbeat time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ReceiverStats counts what a Receiver took.
type ReceiverStats struct {
	Envelopes int64 // bodies received
	Events    int64 // events stored
	Skipped   int64 // events that are no request regsql keeps
	Malformed int64 // bodies refused as no notification envelope
	Failed    int64 // bodies answered 503 because storing failed
	Stored    index.UsageCounts
}

// Receiver is an http.Handler for the registry's webhook notifications
// (notifications.endpoints[].url). It answers 200 once an envelope's events
// are committed, 503 when storing fails (the registry sends it again), 400
// for a body that is no envelope and 405 for anything but POST. Run must be
// running for it to store anything.
type Receiver struct {
	w       *index.UsageWriter
	opts    ReceiverOptions
	started time.Time
	in      chan delivery

	mu    sync.Mutex
	stats ReceiverStats
}

// delivery is one envelope waiting to be stored.
type delivery struct {
	events []usage.Event
	done   chan error
}

// NewReceiver returns a Receiver storing through w.
func NewReceiver(w *index.UsageWriter, opts ReceiverOptions) *Receiver {
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = 200 * time.Millisecond
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Receiver{w: w, opts: opts, started: opts.Now(), in: make(chan delivery)}
}

// Stats returns the counts so far.
func (rc *Receiver) Stats() ReceiverStats {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.stats
}

func (rc *Receiver) count(f func(*ReceiverStats)) {
	rc.mu.Lock()
	f(&rc.stats)
	rc.mu.Unlock()
}

// ServeHTTP takes one envelope.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST the registry's notification envelopes here", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEnvelopeBytes))
	if err != nil {
		rc.count(func(s *ReceiverStats) { s.Malformed++ })
		http.Error(w, fmt.Sprintf("read envelope: %v", err), http.StatusBadRequest)
		return
	}
	events, skipped, err := usage.ParseEnvelope(body)
	rc.count(func(s *ReceiverStats) { s.Envelopes++; s.Skipped += int64(skipped) })
	if err != nil {
		rc.count(func(s *ReceiverStats) { s.Malformed++ })
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d := delivery{events: events, done: make(chan error, 1)}
	select {
	case rc.in <- d:
	case <-r.Context().Done():
		return
	}
	select {
	case err = <-d.done:
	case <-r.Context().Done():
		// Stored or not, the registry sends it again, and a duplicate adds
		// nothing.
		return
	}
	if err != nil {
		rc.count(func(s *ReceiverStats) { s.Failed++ })
		http.Error(w, "store events: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// Run stores what ServeHTTP receives, many envelopes to a transaction,
// until ctx is done; then it records the listener as finished. It returns
// ctx's error, or the error of that last write.
func (rc *Receiver) Run(ctx context.Context) error {
	var (
		pending []delivery
		flush   <-chan time.Time
		timer   *time.Timer
		beat    = time.NewTicker(rc.opts.Heartbeat)
	)
	defer beat.Stop()
	write := func(ctx context.Context) {
		var events []usage.Event
		for _, d := range pending {
			events = append(events, d.events...)
		}
		err := rc.w.Write(ctx, events, rc.progress())
		if err == nil {
			rc.count(func(s *ReceiverStats) { s.Events += int64(len(events)); s.Stored = rc.w.Counts() })
		}
		for _, d := range pending {
			d.done <- err
		}
		pending, flush = pending[:0], nil
	}
	for {
		select {
		case d := <-rc.in:
			pending = append(pending, d)
			if flush == nil {
				timer = time.NewTimer(rc.opts.FlushEvery)
				flush = timer.C
			}
		case <-flush:
			write(ctx)
		case <-beat.C:
			if len(pending) == 0 {
				_ = rc.w.Write(ctx, nil, rc.progress())
			}
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			final := context.WithoutCancel(ctx)
			if len(pending) > 0 {
				write(final)
			}
			if err := rc.w.Finish(final, rc.progress()); err != nil {
				return errors.Join(ctx.Err(), err)
			}
			return ctx.Err()
		}
	}
}

// progress is what the listener's usage_sources row records: it covers the
// time from when it started listening to now.
func (rc *Receiver) progress() index.UsageProgress {
	s := rc.Stats()
	return index.UsageProgress{
		Lines: s.Envelopes, Skipped: s.Skipped, Malformed: s.Malformed,
		CoveredFrom: rc.started, CoveredTo: rc.opts.Now(),
	}
}
