package metrics

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/regsql/regsql/index"
)

// ServerOptions configures a Server.
type ServerOptions struct {
	// DBPath is the index to serve.
	DBPath string
	// Reindex builds the index at DBPath anew (index.Build renames a
	// complete file into place); nil serves DBPath as it is.
	Reindex func(ctx context.Context) error
	// Interval is the time from the end of one re-index to the start of
	// the next; 0 re-indexes once, at the start.
	Interval time.Duration
	// Log, when set, is told of each re-index.
	Log func(msg string)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server serves an index's metrics on /metrics and its health on /healthz,
// and re-indexes on an interval while Run runs.
type Server struct {
	opts ServerOptions

	runs, failures prometheus.Counter
	lastSuccess    prometheus.Gauge
	duration       prometheus.Gauge
	own            *prometheus.Registry

	mu      sync.Mutex
	lastErr error
	lastRun time.Time
}

// NewServer returns a Server for opts.
func NewServer(opts ServerOptions) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts: opts,
		runs: prometheus.NewCounter(prometheus.CounterOpts{Name: "regsql_reindex_runs_total",
			Help: "Re-index runs by regsql serve since it started"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "regsql_reindex_failures_total",
			Help: "Re-index runs that failed (the previous index stays served)"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "regsql_reindex_last_success_timestamp_seconds",
			Help: "When the last successful re-index finished; 0 before the first"}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{Name: "regsql_reindex_duration_seconds",
			Help: "How long the last re-index took, successful or not"}),
		own: prometheus.NewRegistry(),
	}
	s.own.MustRegister(s.runs, s.failures, s.lastSuccess, s.duration)
	return s
}

// Handler serves /metrics and /healthz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", s.serveMetrics)
	mux.HandleFunc("/healthz", s.serveHealth)
	return mux
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if _, err := os.Stat(s.opts.DBPath); errors.Is(err, fs.ErrNotExist) {
		http.Error(w, "no index yet: the first re-index has not finished", http.StatusServiceUnavailable)
		return
	}
	index := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return s.gather(r.Context()) })
	promhttp.HandlerFor(prometheus.Gatherers{index, s.own}, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}).ServeHTTP(w, r)
}

// gather opens the file at the path now, so that a scrape during a
// re-index reads the old index or the new one, each complete.
func (s *Server) gather(ctx context.Context) ([]*dto.MetricFamily, error) {
	db, err := index.Open(ctx, s.opts.DBPath)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return Gather(ctx, db, s.opts.Now())
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	db, err := index.Open(r.Context(), s.opts.DBPath)
	if err != nil {
		http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	scan, err := db.Scan(r.Context())
	db.Close()
	if err != nil {
		http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	s.mu.Lock()
	lastErr, lastRun := s.lastErr, s.lastRun
	s.mu.Unlock()
	// A failed re-index leaves the previous index served: still healthy,
	// and the body and regsql_reindex_failures_total say so.
	fmt.Fprintf(w, "ok: index of %s scanned at %s\n", scan.Root, scan.FinishedAt.Format(time.RFC3339))
	if lastErr != nil {
		fmt.Fprintf(w, "last re-index at %s failed: %v\n", lastRun.Format(time.RFC3339), lastErr)
	}
}

// Run re-indexes at once and then every Interval until ctx is done; it
// returns nil then. Without Reindex it only waits.
func (s *Server) Run(ctx context.Context) error {
	if s.opts.Reindex == nil {
		<-ctx.Done()
		return nil
	}
	for {
		s.reindex(ctx)
		if s.opts.Interval <= 0 {
			<-ctx.Done()
			return nil
		}
		t := time.NewTimer(s.opts.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func (s *Server) reindex(ctx context.Context) {
	start := s.opts.Now()
	err := s.opts.Reindex(ctx)
	took := s.opts.Now().Sub(start)
	if ctx.Err() != nil {
		return // stopping: not a failure
	}
	s.runs.Inc()
	s.duration.Set(took.Seconds())
	s.mu.Lock()
	s.lastErr, s.lastRun = err, start
	s.mu.Unlock()
	if err != nil {
		s.failures.Inc()
		s.log(fmt.Sprintf("re-index failed after %.1fs, still serving the previous index: %v", took.Seconds(), err))
		return
	}
	s.lastSuccess.Set(float64(s.opts.Now().Unix()))
	s.log(fmt.Sprintf("re-indexed in %.1fs", took.Seconds()))
}

func (s *Server) log(msg string) {
	if s.opts.Log != nil {
		s.opts.Log(msg)
	}
}
