package walker_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/storage/driver/factory"

	"github.com/regsql/regsql/internal/gen"
	"github.com/regsql/regsql/internal/s3test"
	"github.com/regsql/regsql/walker"
)

// serveFixtures starts an S3 server whose buckets are the fixtures, served
// from walker/testdata as they stand: bucket "healthy" holds
// docker/registry/v2/... of testdata/healthy, with the files' own times.
func serveFixtures(t *testing.T) *s3test.Server {
	t.Helper()
	dir := t.TempDir()
	for name := range recipes {
		abs, err := filepath.Abs(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return s3test.Start(t, s3test.Options{Dir: dir, BucketLinks: true})
}

// fixtureStorage opens a fixture's bucket through distribution's s3 driver.
func fixtureStorage(t *testing.T, srv *s3test.Server, endpoint, name string, opts walker.DriverOptions) *walker.DriverStorage {
	t.Helper()
	params := srv.DriverParameters(name, "")
	params["regionendpoint"] = endpoint
	drv, err := factory.Create(context.Background(), "s3", params)
	if err != nil {
		t.Fatalf("factory.Create(s3) error = %v", err)
	}
	return walker.NewDriverStorage(drv, opts)
}

// TestObjectStoreMatchesDirStorage walks every fixture as an S3 bucket, the
// fast way (one flat listing, reads ahead) and the plain way (a List and a
// Stat per directory entry, verifying), and expects the records of the
// local walk of the same files: S3 keeps times to the second, so the local times are
// compared to the second.
func TestObjectStoreMatchesDirStorage(t *testing.T) {
	srv := serveFixtures(t)
	for name := range recipes {
		t.Run(name, func(t *testing.T) {
			for _, verify := range []bool{false, true} {
				opts := walker.Options{Workers: 4, Verify: verify}
				want, _ := walkWith(t, openFixture(t, name), opts)
				truncateTimes(want)
				fast, _ := walkWith(t, fixtureStorage(t, srv, srv.URL, name, walker.DriverOptions{}), opts)
				compareRecords(t, "flat listing", fast, want)
				if verify {
					// Without fast paths the walk lists every link
					// directory, and finds what only a verifying
					// walk reports.
					plain, _ := walkWith(t, plainStorage{fixtureStorage(t, srv, srv.URL, name, walker.DriverOptions{})}, opts)
					compareRecords(t, "plain driver", plain, want)
				}
			}
		})
	}
}

// truncateTimes cuts the recorded times to the second, as S3 keeps them.
func truncateTimes(r *recorder) {
	for i := range r.blobs {
		r.blobs[i].ModifiedAt = second(r.blobs[i].ModifiedAt)
	}
	for i := range r.tags {
		r.tags[i].PushedAt = second(r.tags[i].PushedAt)
	}
	for i := range r.history {
		r.history[i].LinkedAt = second(r.history[i].LinkedAt)
	}
	for i := range r.revisions {
		r.revisions[i].LinkedAt = second(r.revisions[i].LinkedAt)
	}
	for i := range r.layerLinks {
		r.layerLinks[i].LinkedAt = second(r.layerLinks[i].LinkedAt)
	}
}

func second(t time.Time) time.Time { return t.Truncate(time.Second).UTC() }

// TestObjectStoreRequests walks a generated tree of a few thousand files
// served as a bucket, through a proxy that counts requests, and expects the
// records of the local walk, the storage's own request counts to be the
// proxy's, and each file read once: no listing of a directory, no Stat of
// a file, nothing read ahead that the walk did not want.
func TestObjectStoreRequests(t *testing.T) {
	tree := t.TempDir()
	gs, err := gen.Generate(context.Background(), tree, gen.Params{Seed: 7, Repos: 14})
	if err != nil {
		t.Fatalf("gen.Generate() error = %v", err)
	}
	if gs.Files <= 1000 {
		t.Fatalf("generated %d files, want more than one listing page", gs.Files)
	}
	buckets := t.TempDir()
	if err := os.Symlink(tree, filepath.Join(buckets, "gen")); err != nil {
		t.Fatal(err)
	}
	srv := s3test.Start(t, s3test.Options{Dir: buckets, BucketLinks: true})
	proxy := s3test.StartProxy(t, srv.URL)

	local, err := walker.OpenRoot(tree)
	if err != nil {
		t.Fatal(err)
	}
	namespaces, err := os.ReadDir(filepath.Join(tree, "docker", "registry", "v2", "repositories"))
	if err != nil {
		t.Fatal(err)
	}
	for _, verify := range []bool{false, true} {
		t.Run(fmt.Sprintf("verify=%v", verify), func(t *testing.T) {
			opts := walker.Options{Workers: 4, Verify: verify}
			want, _ := walkWith(t, local, opts)
			truncateTimes(want)
			proxy.Reset()
			st := fixtureStorage(t, srv, proxy.URL, "gen", walker.DriverOptions{Concurrency: 8})
			got, stats := walkWith(t, st, opts)
			compareRecords(t, "flat listing", got, want)

			req := st.Requests()
			t.Logf("%d files: %v, files read %d", gs.Files, req, stats.FilesRead)
			counted := proxy.Counts()
			if req.List != counted[s3test.KindList] || req.Get != counted[s3test.KindGet] || req.Stat != counted[s3test.KindHead] || req.Retries != 0 {
				t.Errorf("Requests() = %+v, want the proxy's %v and no retry", req, counted)
			}
			if req.Stat != 0 || req.Get != int64(stats.FilesRead) {
				t.Errorf("Requests() = %+v for %d files read, want no stat and one get a file", req, stats.FilesRead)
			}
			// Besides a page per 1000 keys: the shallow listings that
			// find where to split (the v2 root, blobs/, blobs/sha256/,
			// repositories/ and each directory in it), and at most a
			// page more per range.
			minPages := int64(gs.Files+999) / 1000
			if shallow := int64(4 + len(namespaces)); req.List < minPages+shallow || req.List > minPages+shallow+16 {
				t.Errorf("listing requests = %d, want %d (one page per 1000 keys) and %d shallow listings, plus a few for the split", req.List, minPages, shallow)
			}
		})
	}

	// Opened from the registry's config, as regsql opens it, the storage
	// keeps a connection for each request it may have in flight: Go's
	// default client keeps 2, and most of the walk's requests would open
	// a connection of their own (on real S3, a TLS handshake each).
	t.Run("connections", func(t *testing.T) {
		config := filepath.Join(t.TempDir(), "config.yml")
		if err := os.WriteFile(config, s3test.RegistryConfig(proxy.URL, "gen", ""), 0o644); err != nil {
			t.Fatal(err)
		}
		const concurrency = 8
		st, _, err := walker.OpenConfig(context.Background(), config, walker.DriverOptions{Concurrency: concurrency})
		if err != nil {
			t.Fatalf("OpenConfig() error = %v", err)
		}
		proxy.Reset()
		walkWith(t, st, walker.Options{Workers: 4})
		t.Logf("%d connections for %v", proxy.Connections(), st.Requests())
		if got, limit := proxy.Connections(), int64(2*concurrency); got > limit {
			t.Errorf("the walk opened %d connections for %d requests, want at most %d (about one per request in flight)", got, st.Requests().Total(), limit)
		}
	})
}

// TestObjectStoreFailures fails reads of the healthy fixture's bucket in
// the ways a store does and expects what each calls for: a refusal of one
// object is a problem record, a burst of server errors is retried away, and
// errors that outlast the retries stop the walk.
func TestObjectStoreFailures(t *testing.T) {
	srv := serveFixtures(t)
	proxy := s3test.StartProxy(t, srv.URL)
	want, _ := walk(t, fixtureStorage(t, srv, srv.URL, "healthy", walker.DriverOptions{}))
	// Reads go one at a time, so that the nth read is one request.
	opts := walker.DriverOptions{Concurrency: 1, Retries: 1, RetryWait: time.Millisecond}

	// failGets answers the GETs from the first'th to the last'th with status.
	failGets := func(first, last, status int) func(int64, string) int {
		gets := 0
		return func(_ int64, kind string) int {
			if kind != s3test.KindGet {
				return 0
			}
			gets++
			if gets >= first && gets <= last {
				return status
			}
			return 0
		}
	}
	tests := []struct {
		name         string
		fail         func(int64, string) int
		wantErr      error
		wantRetries  int64
		wantProblems int // unreadable files recorded
	}{
		{name: "one object refused", fail: failGets(3, 3, http.StatusForbidden), wantProblems: 1},
		{name: "a burst of server errors", fail: failGets(3, 6, http.StatusInternalServerError), wantRetries: 1},
		{name: "server errors throughout", fail: failGets(3, 1000, http.StatusInternalServerError), wantErr: walker.ErrStorageUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy.Fail(tt.fail)
			t.Cleanup(func() { proxy.Fail(nil) })
			st := fixtureStorage(t, srv, proxy.URL, "healthy", opts)
			rec := newRecorder()
			_, err := walker.Walk(context.Background(), st, rec, walker.Options{Workers: 4})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Walk() error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			rec.sort()
			if got := st.Requests().Retries; got != tt.wantRetries {
				t.Errorf("retries = %d, want %d", got, tt.wantRetries)
			}
			var unreadable int
			for _, p := range rec.problems {
				if p.Kind == walker.ProblemUnreadable && strings.Contains(p.Message, "AccessDenied") {
					unreadable++
				}
			}
			if unreadable != tt.wantProblems || len(rec.problems) != tt.wantProblems {
				t.Errorf("problems = %+v, want %d unreadable file(s)", rec.problems, tt.wantProblems)
			}
			if tt.wantProblems == 0 {
				compareRecords(t, "retried", rec, want)
			}
		})
	}
}
