package metrics_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/internal/registrygc"
	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/metrics"
	"github.com/regsql/regsql/usage"
	"github.com/regsql/regsql/walker"
)

// world is a registry with tagged images sharing a base layer, a
// multi-platform index, an untagged manifest and a blob no manifest uses,
// indexed, with some pulls ingested.
type world struct {
	reg    *registrytest.Registry
	path   string
	images map[string]*registrytest.Manifest // "repo:tag"
}

func newWorld(t *testing.T) world {
	t.Helper()
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	base := registrytest.Layer(50, 3000)
	w := world{reg: reg, path: filepath.Join(t.TempDir(), "regsql.db"), images: map[string]*registrytest.Manifest{}}
	push := func(repo, tag string, m *registrytest.Manifest) {
		s.Push(repo, tag, m)
		w.images[repo+":"+tag] = m
	}
	push("team/app", "v1", registrytest.Image(registrytest.ImageOptions{Seed: 51, Base: [][]byte{base}, Layers: 2}))
	push("team/app", "v2", registrytest.Image(registrytest.ImageOptions{Seed: 52, Base: [][]byte{base}}))
	push("team/multi", "latest", registrytest.Index(
		registrytest.Image(registrytest.ImageOptions{Seed: 53}),
		registrytest.Image(registrytest.ImageOptions{Seed: 54, Architecture: "arm64"})))
	s.Push("team/app", "", registrytest.Image(registrytest.ImageOptions{Seed: 55})) // untagged
	s.PushBlob("team/app", registrytest.Layer(56, 500))                             // a layer link only
	w.index(t)
	ctx := context.Background()
	uw, err := index.NewUsageWriter(ctx, w.path, index.UsageSource{Name: "registry.log", Kind: "file"}, index.UsageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_900_000_000, 0)
	events := []usage.Event{
		{Kind: usage.ManifestPull, Key: "a", Repo: "team/app", Reference: "v1", Time: at, Method: "GET"},
		{Kind: usage.ManifestPull, Key: "b", Repo: "team/app", Reference: "v1", Time: at.Add(time.Hour), Method: "HEAD"},
		{Kind: usage.ManifestPull, Key: "c", Repo: "team/multi", Reference: "latest", Time: at.Add(2 * time.Hour), Method: "GET"},
	}
	if err := uw.Write(ctx, events, index.UsageProgress{CoveredFrom: at, CoveredTo: at.Add(3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := uw.Finish(ctx, index.UsageProgress{CoveredFrom: at, CoveredTo: at.Add(3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w world) index(t *testing.T) {
	t.Helper()
	if err := w.build(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (w world) build(ctx context.Context) error {
	st, err := walker.OpenRoot(w.reg.Root())
	if err != nil {
		return err
	}
	_, err = index.Build(ctx, w.path, st, index.BuildOptions{Root: w.reg.Root(), Driver: "filesystem", Version: "test"})
	return err
}

// parse reads text exposition with Prometheus's own parser.
func parse(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("TextToMetricFamilies() error = %v", err)
	}
	return mfs
}

// series renders a family's series as "label=value,... value", one per
// series, so they compare as a map.
func series(mf *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	if mf == nil {
		return out
	}
	for _, m := range mf.Metric {
		var labels []string
		for _, l := range m.Label {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		v := m.GetGauge().GetValue()
		if m.Counter != nil {
			v = m.GetCounter().GetValue()
		}
		out[strings.Join(labels, ",")] = v
	}
	return out
}

// sqlSeries runs query (label columns, then a value) on the index.
func sqlSeries(t *testing.T, db *index.DB, labels []string, query string) map[string]float64 {
	t.Helper()
	rows, err := db.SQLX().Queryx(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		vals, err := rows.SliceScan()
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for i, l := range labels {
			parts = append(parts, l+"="+fmt.Sprint(vals[i]))
		}
		var v float64
		switch n := vals[len(labels)].(type) {
		case int64:
			v = float64(n)
		case float64:
			v = n
		}
		out[strings.Join(parts, ",")] = v
	}
	return out
}

func layerBytes(m *registrytest.Manifest) (n, size float64) {
	for _, l := range m.Layers {
		n, size = n+1, size+float64(len(l))
	}
	for _, c := range m.Children {
		cn, cs := layerBytes(c)
		n, size = n+cn, size+cs
	}
	return n, size
}

// TestMetricsEqualSQL writes the metrics as text, reads them back with
// Prometheus's parser, and compares each with SQL over the same index, the
// pushed content, or the registry's own garbage collector.
func TestMetricsEqualSQL(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	db, err := index.Open(ctx, w.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Unix(2_000_000_000, 0)
	mfs, err := metrics.Gather(ctx, db, now)
	if err != nil {
		t.Fatalf("Gather() error = %v", err)
	}
	var text bytes.Buffer
	if err := metrics.WriteText(&text, mfs); err != nil {
		t.Fatal(err)
	}
	got := parse(t, &text)

	tagLayers, tagSize := map[string]float64{}, map[string]float64{}
	for key, m := range w.images {
		repo, tag, _ := strings.Cut(key, ":")
		n, size := layerBytes(m)
		tagLayers["repository="+repo+",tag="+tag], tagSize["repository="+repo+",tag="+tag] = n, size
	}
	gcBytes := map[string]float64{}
	gcBlobs := map[string]float64{}
	for mode, untagged := range map[string]bool{"default": false, "delete_untagged": true} {
		res, err := registrygc.DryRun(ctx, w.reg.Driver(), untagged)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range res.Blobs {
			fi, err := os.Stat(filepath.Join(w.reg.Root(), "docker/registry/v2/blobs/sha256", d.Encoded()[:2], d.Encoded(), "data"))
			if err != nil {
				t.Fatal(err)
			}
			gcBytes["mode="+mode] += float64(fi.Size())
		}
		gcBlobs["mode="+mode] = float64(len(res.Blobs))
	}
	if gcBlobs["mode=delete_untagged"] <= gcBlobs["mode=default"] {
		t.Fatalf("the world's GC modes do not differ: %v", gcBlobs)
	}

	repo := []string{"repository"}
	tests := []struct {
		name string
		want map[string]float64
	}{
		{"repository_tags_total", sqlSeries(t, db, repo, `SELECT r.name, count(t.name) FROM repos r LEFT JOIN tags t ON t.repo_id = r.id WHERE r.listed GROUP BY r.name`)},
		{"repository_revisions_total", sqlSeries(t, db, repo, `SELECT r.name, count(v.digest) FROM repos r LEFT JOIN revisions v ON v.repo_id = r.id WHERE r.listed GROUP BY r.name`)},
		{"repository_tag_layers_total", tagLayers},
		{"repository_tag_size_bytes", tagSize},
		{"regsql_repository_bytes", sqlSeries(t, db, repo, `SELECT name, total_bytes FROM repo_usage`)},
		{"regsql_repository_unique_bytes", sqlSeries(t, db, repo, `SELECT name, unique_bytes FROM repo_usage`)},
		{"regsql_repository_shared_bytes", sqlSeries(t, db, repo, `SELECT name, shared_bytes FROM repo_usage`)},
		{"regsql_unreferenced_bytes", gcBytes},
		{"regsql_unreferenced_blobs", gcBlobs},
		{"regsql_blob_bytes", sqlSeries(t, db, nil, `SELECT sum(size) FROM blobs`)},
		{"regsql_blobs", sqlSeries(t, db, nil, `SELECT count(*) FROM blobs`)},
		{"regsql_scan_age_seconds", sqlSeries(t, db, nil, fmt.Sprintf(`SELECT %d - finished_at FROM scans`, now.Unix()))},
		{"regsql_pulls_total", sqlSeries(t, db, repo, `SELECT repo, count(*) FROM pulls GROUP BY repo`)},
		{"regsql_last_pull_timestamp_seconds", sqlSeries(t, db, repo, `SELECT repo, max(pulled_at) FROM pulls GROUP BY repo`)},
		{"regsql_tag_last_pull_timestamp_seconds", map[string]float64{
			"repository=team/app,tag=v1": 1_900_003_600, "repository=team/multi,tag=latest": 1_900_007_200}},
		{"regsql_usage_coverage_start_timestamp_seconds", map[string]float64{"": 1_900_000_000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mf := got[tt.name]
			if mf == nil {
				t.Fatalf("no %s in the output", tt.name)
			}
			if mf.GetHelp() == "" {
				t.Errorf("%s has no HELP", tt.name)
			}
			if g := series(mf); fmt.Sprint(g) != fmt.Sprint(tt.want) {
				t.Errorf("%s = %v, want %v", tt.name, g, tt.want)
			}
		})
	}
	if typ := got["regsql_pulls_total"].GetType(); typ != dto.MetricType_COUNTER {
		t.Errorf("regsql_pulls_total type = %v, want counter", typ)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestServerReindexes serves metrics while re-indexing as fast as it can:
// every scrape is a whole index, old or new, never part of one.
func TestServerReindexes(t *testing.T) {
	w := newWorld(t)
	var (
		mu   sync.Mutex
		logs []string
	)
	srv := metrics.NewServer(metrics.ServerOptions{
		DBPath: w.path, Reindex: w.build, Interval: time.Millisecond,
		Log: func(msg string) { mu.Lock(); logs = append(logs, msg); mu.Unlock() },
	})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	// Before any index exists (the first re-index still running).
	none := httptest.NewServer(metrics.NewServer(metrics.ServerOptions{DBPath: filepath.Join(t.TempDir(), "none.db")}).Handler())
	defer none.Close()
	if code, body := get(t, none.URL+"/metrics"); code != http.StatusServiceUnavailable {
		t.Errorf("GET /metrics before the first index = %d %q, want 503", code, body)
	}
	if code, _ := get(t, none.URL+"/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("GET /healthz before the first index = %d, want 503", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	want := map[string]float64{"repository=team/app": 2, "repository=team/multi": 1}
	for i := 0; i < 25 || (reindexRuns(t, ts.URL) < 3 && i < 2000); i++ {
		code, body := get(t, ts.URL+"/metrics")
		if code != http.StatusOK {
			t.Fatalf("scrape %d = %d %q", i, code, body)
		}
		mfs := parse(t, strings.NewReader(body))
		if got := series(mfs["repository_tags_total"]); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("scrape %d: repository_tags_total = %v, want %v", i, got, want)
		}
		if len(series(mfs["regsql_pulls_total"])) != 2 {
			t.Fatalf("scrape %d: regsql_pulls_total = %v: the pulls did not survive re-indexing", i, series(mfs["regsql_pulls_total"]))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logs) == 0 || !strings.HasPrefix(logs[0], "re-indexed in ") {
		t.Errorf("logs = %q, want re-index lines", logs)
	}
}

// reindexRuns reads regsql_reindex_runs_total from the server.
func reindexRuns(t *testing.T, url string) float64 {
	t.Helper()
	_, body := get(t, url+"/metrics")
	return series(parse(t, strings.NewReader(body))["regsql_reindex_runs_total"])[""]
}

// TestServerKeepsServingAfterAFailedReindex: a re-index that fails leaves
// the previous index served and says so.
func TestServerKeepsServingAfterAFailedReindex(t *testing.T) {
	w := newWorld(t)
	srv := metrics.NewServer(metrics.ServerOptions{
		DBPath: w.path, Reindex: func(context.Context) error { return fmt.Errorf("storage unreachable") },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get(t, ts.URL+"/healthz")
		if code == http.StatusOK && strings.Contains(body, "storage unreachable") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /healthz = %d %q, want 200 naming the failure", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	code, body := get(t, ts.URL+"/metrics")
	mfs := parse(t, strings.NewReader(body))
	if code != http.StatusOK || mfs["regsql_reindex_failures_total"].GetMetric()[0].GetCounter().GetValue() != 1 || mfs["repository_tags_total"] == nil {
		t.Errorf("GET /metrics = %d, want 200 with the old index and one failure counted:\n%s", code, body)
	}
	cancel()
	<-done
}
