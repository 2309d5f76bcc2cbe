package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/ingest"
	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/usage"
	"github.com/regsql/regsql/walker"
)

// syncBuffer is the registry's log: written by its request goroutines, read
// by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// pull is one manifest request the test made: what pull_events must hold.
type pull struct {
	Repo, Reference, Method, Digest string
}

func (p pull) String() string {
	return fmt.Sprintf("%s %s:%s (%s)", p.Method, p.Repo, p.Reference, p.Digest)
}

// site is a registry whose log and notifications the test captures: its
// notifications go to a handler that answers 503 until the test sets a
// Receiver, so the registry keeps them until the index exists.
type site struct {
	reg      *registrytest.Registry
	log      *syncBuffer
	receiver atomic.Pointer[ingest.Receiver]
	dbPath   string
	pulls    []pull // what the test pulled
}

func startSite(t *testing.T, format string, notify bool) *site {
	t.Helper()
	s := &site{log: &syncBuffer{}, dbPath: filepath.Join(t.TempDir(), "regsql.db")}
	if !notify {
		s.reg = registrytest.Start(t, registrytest.WithLog(s.log, format))
		s.reg.UserAgent = "regsql-test/1.0 (" + format + ")"
		return s
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := s.receiver.Load()
		if rc == nil {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		rc.ServeHTTP(w, r)
	}))
	t.Cleanup(hook.Close)
	s.reg = registrytest.Start(t, registrytest.WithLog(s.log, format), registrytest.WithNotifications(hook.URL))
	s.reg.UserAgent = "regsql-test/1.0 (" + format + ")"
	return s
}

// index builds (or rebuilds) the index of the site's storage.
func (s *site) index(t *testing.T) {
	t.Helper()
	st, err := walker.OpenRoot(s.reg.Root())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := index.Build(context.Background(), s.dbPath, st, index.BuildOptions{Root: s.reg.Root(), Driver: "filesystem", Version: "test"}); err != nil {
		t.Fatalf("index.Build() error = %v", err)
	}
}

// pullImage pulls repo:ref the way a client does and records the manifest
// requests that makes: the manifest, then each child of an index by digest.
func (s *site) pullImage(t *testing.T, repo, ref string, m *registrytest.Manifest) {
	t.Helper()
	if _, err := s.reg.Pull(repo, ref); err != nil {
		t.Fatal(err)
	}
	s.pulls = append(s.pulls, pull{repo, ref, "GET", m.Digest().String()})
	for _, c := range m.Children {
		s.pulls = append(s.pulls, pull{repo, c.Digest().String(), "GET", c.Digest().String()})
	}
}

func (s *site) head(t *testing.T, repo, ref string, d digest.Digest) {
	t.Helper()
	if _, err := s.reg.HeadManifest(repo, ref); err != nil {
		t.Fatal(err)
	}
	s.pulls = append(s.pulls, pull{repo, ref, "HEAD", d.String()})
}

// scenario pushes an image and a multi-platform index, pulls them by tag and
// by digest, and makes requests that are not pulls.
func (s *site) scenario(t *testing.T) {
	t.Helper()
	steps := s.reg.Steps(t)
	app := registrytest.Image(registrytest.ImageOptions{Seed: 1})
	amd := registrytest.Image(registrytest.ImageOptions{Seed: 2})
	arm := registrytest.Image(registrytest.ImageOptions{Seed: 3, Architecture: "arm64"})
	multi := registrytest.Index(amd, arm)
	steps.Push("team/app", "v1", app)
	steps.Push("team/multi", "latest", multi)

	s.pullImage(t, "team/app", "v1", app)
	s.pullImage(t, "team/app", app.Digest().String(), app)
	s.pullImage(t, "team/multi", "latest", multi)
	s.head(t, "team/app", "v1", app.Digest())
	// Not pulls: a missing tag (404), a blob HEAD, the tags list.
	if _, err := s.reg.HeadManifest("team/app", "nope"); err == nil {
		t.Fatal("HEAD of a missing tag succeeded")
	}
	if _, err := s.reg.Tags("team/app"); err != nil {
		t.Fatal(err)
	}
	steps.DeleteTag("team/app", "v1")
}

// scenarioPushes is what scenario pushes and deletes: 6 blobs (a config
// and a layer for each of 3 images), 4 manifests (the index's children go
// first) and a tag deleted.
const scenarioPushes = 11

// waitForEvents waits until the receiver has stored the pulls and pushes
// the scenario made: the registry delivers notifications from a queue of
// its own, in order.
func waitForEvents(t *testing.T, rc *ingest.Receiver, pulls int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for c := rc.Stats().Stored; c.Pulls < int64(pulls) || c.Pushes < scenarioPushes; c = rc.Stats().Stored {
		if time.Now().After(deadline) {
			t.Fatalf("receiver stored %+v, want %d pulls and %d pushes", c, pulls, scenarioPushes)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// storedPulls reads pull_events joined through the pulls view.
func storedPulls(t *testing.T, path string) []pull {
	t.Helper()
	db, err := index.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows []struct {
		Repo, Reference, Method string
		Digest                  *string
	}
	if err := db.SQLX().Select(&rows, `SELECT repo, reference, method, digest FROM pulls`); err != nil {
		t.Fatal(err)
	}
	var out []pull
	for _, r := range rows {
		p := pull{Repo: r.Repo, Reference: r.Reference, Method: r.Method}
		if r.Digest != nil {
			p.Digest = *r.Digest
		}
		out = append(out, p)
	}
	return out
}

func sorted(ps []pull) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}

func count(t *testing.T, path, query string) int {
	t.Helper()
	db, err := index.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.SQLX().Get(&n, query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func ingestLog(t *testing.T, path, name string, log []byte) usage.Stats {
	t.Helper()
	ctx := context.Background()
	w, err := index.NewUsageWriter(ctx, path, index.UsageSource{Name: name, Kind: "file"}, index.UsageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := ingest.Stream(ctx, w, bytes.NewReader(log), ingest.StreamOptions{BatchSize: 7})
	if err != nil {
		t.Fatalf("Stream() error = %v", err)
	}
	return st
}

// TestRealRegistry feeds the log lines and notifications a real registry
// wrote during the test's pushes and pulls, and checks the pulls table
// against the pulls the test made: by log alone, by notifications alone,
// and both together, where a request read twice is one row.
func TestRealRegistry(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			s := startSite(t, format, true)
			s.scenario(t)
			s.index(t)
			want := sorted(s.pulls)

			// The log alone, into a copy of the index.
			logOnly := filepath.Join(t.TempDir(), "log-only.db")
			st, err := walker.OpenRoot(s.reg.Root())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := index.Build(context.Background(), logOnly, st, index.BuildOptions{Version: "test"}); err != nil {
				t.Fatal(err)
			}
			log := s.log.Bytes()
			stats := ingestLog(t, logOnly, "registry.log", log)
			if stats.Malformed != 0 {
				t.Errorf("Stream() malformed = %d, want 0 (last: %v)", stats.Malformed, stats.LastError)
			}
			got := storedPulls(t, logOnly)
			// v1 was deleted after the pulls: a pull by tag resolves to no
			// digest then, since the tag is gone.
			var wantLog []pull
			for _, p := range s.pulls {
				if p.Reference == "v1" {
					p.Digest = ""
				}
				wantLog = append(wantLog, p)
			}
			if g, w := sorted(got), sorted(wantLog); !slices.Equal(g, w) {
				t.Errorf("pulls from the log =\n%s\nwant\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
			}
			if n := count(t, logOnly, `SELECT count(*) FROM push_events WHERE kind = 'push'`); n != 4 {
				t.Errorf("manifest pushes from the log = %d, want 4 (an image, an index and its two children)", n)
			}
			if n := count(t, logOnly, `SELECT count(*) FROM push_events`); n != scenarioPushes {
				t.Errorf("push_events from the log = %d, want %d", n, scenarioPushes)
			}
			if n := count(t, logOnly, `SELECT count(*) FROM push_events WHERE kind = 'tag_delete' AND tag = 'v1'`); n != 1 {
				t.Errorf("tag deletes from the log = %d, want 1", n)
			}

			// Notifications: the registry has kept them since the
			// pushes; now the receiver takes them.
			w, err := index.NewUsageWriter(context.Background(), s.dbPath, index.UsageSource{Name: "listener", Kind: "listener"}, index.UsageOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rc := ingest.NewReceiver(w, ingest.ReceiverOptions{FlushEvery: 10 * time.Millisecond})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- rc.Run(ctx) }()
			s.receiver.Store(rc)
			waitForEvents(t, rc, len(s.pulls))
			s.receiver.Store(nil)
			cancel()
			if err := <-done; err != context.Canceled {
				t.Fatalf("Run() = %v, want context.Canceled", err)
			}
			if got := sorted(storedPulls(t, s.dbPath)); !slices.Equal(got, want) {
				t.Errorf("pulls from notifications =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}

			// Then the log of the same requests: every pull is already
			// there, by request id.
			again := ingestLog(t, s.dbPath, "registry.log", log)
			if again.Events == 0 {
				t.Fatal("the log gave no events")
			}
			if got := sorted(storedPulls(t, s.dbPath)); !slices.Equal(got, want) {
				t.Errorf("pulls from notifications and log =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// Blob GETs: the layers and configs of every image pulled.
			if n := count(t, s.dbPath, `SELECT count(*) FROM blob_pulls`); n != 6 {
				t.Errorf("blob_pulls rows = %d, want 6 (3 images, a config and a layer each)", n)
			}
			if n := count(t, s.dbPath, `SELECT count(DISTINCT user_agent) FROM pull_events`); n != 1 {
				t.Errorf("distinct user agents = %d, want 1", n)
			}
			if n := count(t, s.dbPath, `SELECT count(*) FROM pull_events WHERE remote LIKE '127.%'`); n != 0 {
				t.Errorf("%d pulls keep the client's address, want it hashed", n)
			}
		})
	}
}

// TestReindexKeepsUsage ingests, re-indexes the same path, and finds the
// pulls, pushes and sources still there; re-reading the log then adds
// nothing.
func TestReindexKeepsUsage(t *testing.T) {
	s := startSite(t, "text", false)
	s.scenario(t)
	s.index(t)
	log := s.log.Bytes()
	first := ingestLog(t, s.dbPath, "registry.log", log)
	before := sorted(storedPulls(t, s.dbPath))
	if len(before) != len(s.pulls) {
		t.Fatalf("stored %d pulls, want %d", len(before), len(s.pulls))
	}
	pushes := count(t, s.dbPath, `SELECT count(*) FROM push_events`)
	blobs := count(t, s.dbPath, `SELECT count(*) FROM blob_pulls`)

	s.index(t)
	if got := sorted(storedPulls(t, s.dbPath)); !slices.Equal(got, before) {
		t.Errorf("pulls after re-index =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(before, "\n"))
	}
	if n := count(t, s.dbPath, `SELECT count(*) FROM push_events`); n != pushes {
		t.Errorf("push_events after re-index = %d, want %d", n, pushes)
	}
	if n := count(t, s.dbPath, `SELECT count(*) FROM blob_pulls`); n != blobs {
		t.Errorf("blob_pulls after re-index = %d, want %d", n, blobs)
	}
	if n := count(t, s.dbPath, `SELECT count(*) FROM usage_sources`); n != 1 {
		t.Errorf("usage_sources after re-index = %d, want 1", n)
	}

	ctx := context.Background()
	w, err := index.NewUsageWriter(ctx, s.dbPath, index.UsageSource{Name: "registry.log", Kind: "file"}, index.UsageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.Stream(ctx, w, bytes.NewReader(log), ingest.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	c := w.Counts()
	if want := first.Events - blobGETs(t, log); c.Pulls != 0 || c.Pushes != 0 || c.Duplicates != want {
		t.Errorf("second ingest counts = %+v, want no pulls or pushes and %d duplicates", c, want)
	}
	if got := sorted(storedPulls(t, s.dbPath)); !slices.Equal(got, before) {
		t.Errorf("pulls after reading the log again = %d rows, want %d", len(got), len(before))
	}
}

// blobGETs counts the blob GETs in log: they are never duplicates, they
// fold into blob_pulls.
func blobGETs(t *testing.T, log []byte) int64 {
	t.Helper()
	var n int64
	_, err := usage.Scan(context.Background(), bytes.NewReader(log), usage.ScanOptions{}, func(ev usage.Event) error {
		if ev.Kind == usage.BlobPull {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReceiverRefuses: a body that is no envelope is refused with 400 and
// counted; a GET gets 405; neither stores anything.
func TestReceiverRefuses(t *testing.T) {
	s := startSite(t, "text", false)
	s.reg.Steps(t).Push("team/app", "v1", registrytest.Image(registrytest.ImageOptions{Seed: 1}))
	s.index(t)
	w, err := index.NewUsageWriter(context.Background(), s.dbPath, index.UsageSource{Name: "listener", Kind: "listener"}, index.UsageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc := ingest.NewReceiver(w, ingest.ReceiverOptions{})
	ts := httptest.NewServer(rc)
	defer ts.Close()
	tests := []struct {
		name   string
		method string
		body   string
		want   int
	}{
		{name: "not JSON", method: http.MethodPost, body: "hello", want: http.StatusBadRequest},
		{name: "truncated envelope", method: http.MethodPost, body: `{"events":[{"action":"pull"`, want: http.StatusBadRequest},
		{name: "GET", method: http.MethodGet, want: http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, ts.URL+"/events", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s %q = %d, want %d", tt.method, tt.body, resp.StatusCode, tt.want)
			}
		})
	}
	if st := rc.Stats(); st.Malformed != 2 || st.Events != 0 {
		t.Errorf("Stats() = %+v, want 2 malformed and no events", st)
	}
}
