package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/internal/s3test"
)

// s3Registry starts a registry on S3 with a few images pushed, and a
// counting proxy in front of its S3 server for REGISTRY_STORAGE_S3_REGIONENDPOINT.
func s3Registry(t *testing.T) (*registrytest.Registry, *s3test.Proxy) {
	t.Helper()
	reg := registrytest.Start(t, registrytest.WithBackend(registrytest.S3))
	for i, repo := range []string{"org/app", "org/app/sub", "tools/lint"} {
		img := registrytest.Image(registrytest.ImageOptions{Seed: int64(i + 1), Layers: 2})
		if _, err := reg.Push(repo, "v1", img); err != nil {
			t.Fatal(err)
		}
	}
	return reg, s3test.StartProxy(t, reg.S3().URL)
}

// TestIndexS3 indexes a registry on S3 by its config, with the registry's
// environment overrides pointing the driver at a counting proxy, and expects
// the index, the request counts in the summary to be the proxy's, and one
// GET a manifest and an image config: every link's content proven by its
// ETag.
func TestIndexS3(t *testing.T) {
	reg, proxy := s3Registry(t)
	t.Setenv("REGISTRY_STORAGE_S3_REGIONENDPOINT", proxy.URL)
	db := filepath.Join(t.TempDir(), "regsql.db")
	_, stderr, err := run(t, "", "index", "--config", reg.ConfigPath(), "--db", db)
	if err != nil {
		t.Fatalf("index --config: %v\n%s", err, stderr)
	}
	out, _, err := run(t, "", "query", "--db", db, "-o", "tsv", "SELECT (SELECT count(*) FROM repos), (SELECT count(*) FROM manifests), (SELECT count(DISTINCT config_digest) FROM manifests), (SELECT driver FROM scans)")
	if err != nil || out == "" {
		t.Fatalf("query: %v", err)
	}
	if got, want := strings.Split(strings.TrimSpace(out), "\n")[1], "3\t3\t3\ts3"; got != want {
		t.Errorf("repos, manifests, configs, driver = %q, want %q", got, want)
	}
	counted := proxy.Counts()
	want := regexp.MustCompile(`s3 storage: (\d+) requests \((\d+) list, 6 get\)`)
	m := want.FindStringSubmatch(stderr)
	if m == nil || m[2] != strconv.FormatInt(counted[s3test.KindList], 10) || counted[s3test.KindGet] != 6 || len(counted) != 2 {
		t.Errorf("summary %q, proxy counted %v: want the same counts, 6 gets (3 manifests, 3 configs) and lists only", stderr, counted)
	}
}

// TestIndexS3Errors breaks the way to the bucket (through the registry's
// environment overrides) and expects a clear error, the index built before
// left as it was, and no temporary file behind.
func TestIndexS3Errors(t *testing.T) {
	reg, proxy := s3Registry(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "regsql.db")
	if _, stderr, err := run(t, "", "index", "--config", reg.ConfigPath(), "--db", db); err != nil {
		t.Fatalf("index --config: %v\n%s", err, stderr)
	}
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		env   map[string]string
		fail  func(n int64, kind string) int // what the proxy answers instead
		args  []string
		wants []string // in the error, in order
	}{
		{
			name:  "wrong secret key",
			env:   map[string]string{"REGISTRY_STORAGE_S3_SECRETKEY": "not-the-secret"},
			wants: []string{"storage refused the request", "SignatureDoesNotMatch"},
		},
		{
			name:  "missing bucket",
			env:   map[string]string{"REGISTRY_STORAGE_S3_BUCKET": "no-such-bucket"},
			wants: []string{"storage refused the request", "NoSuchBucket"},
		},
		{
			name:  "nothing below the root",
			env:   map[string]string{"REGISTRY_STORAGE_S3_ROOTDIRECTORY": "/elsewhere"},
			wants: []string{"no registry storage", `s3 bucket "` + reg.Bucket() + `", rootdirectory "/elsewhere"`, "wrong rootdirectory or bucket"},
		},
		{
			// The SDK's own three retries of a throttled request wait
			// some seconds; --retries 0 adds none of regsql's.
			name:  "throttled throughout",
			env:   map[string]string{"REGISTRY_STORAGE_S3_REGIONENDPOINT": proxy.URL},
			fail:  func(int64, string) int { return http.StatusServiceUnavailable },
			args:  []string{"--retries", "0"},
			wants: []string{"storage unavailable", "SlowDown", "lower --rps or --concurrency"},
		},
		{
			name: "failing once the walk is under way",
			env:  map[string]string{"REGISTRY_STORAGE_S3_REGIONENDPOINT": proxy.URL},
			fail: func(n int64, _ string) int {
				if n > 8 {
					return http.StatusInternalServerError
				}
				return 0
			},
			args:  []string{"--retries", "0", "--concurrency", "1"},
			wants: []string{"storage unavailable", "InternalError", "not retried: lower --rps"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			proxy.Fail(tt.fail)
			proxy.Reset()
			t.Cleanup(func() { proxy.Fail(nil) })
			_, _, err := run(t, "", append([]string{"index", "--config", reg.ConfigPath(), "--db", db}, tt.args...)...)
			if err == nil {
				t.Fatalf("index succeeded, want an error saying %q", tt.wants)
			}
			msg := err.Error()
			for _, w := range tt.wants {
				i := strings.Index(msg, w)
				if i < 0 {
					t.Errorf("error %q, want it to say %q", msg, w)
					continue
				}
				msg = msg[i+len(w):]
			}
			after, err := os.ReadFile(db)
			if err != nil || !bytes.Equal(after, before) {
				t.Errorf("the index was changed (%v): a failed run must leave it as it was", err)
			}
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if !slices.Equal(names, []string{"regsql.db"}) {
				t.Errorf("files next to the index = %v, want only regsql.db", names)
			}
		})
	}
}

// TestIndexS3Retries fails a burst of requests with 500 InternalError, more
// than the SDK retries, and expects regsql's own retry to see the walk
// through: the same index as without failures, and the retry counted.
func TestIndexS3Retries(t *testing.T) {
	reg, proxy := s3Registry(t)
	t.Setenv("REGISTRY_STORAGE_S3_REGIONENDPOINT", proxy.URL)
	dir := t.TempDir()
	clean, failed := filepath.Join(dir, "clean.db"), filepath.Join(dir, "failed.db")
	if _, stderr, err := run(t, "", "index", "--config", reg.ConfigPath(), "--db", clean); err != nil {
		t.Fatalf("index --config: %v\n%s", err, stderr)
	}
	// One request at a time: the SDK's four attempts at one request are
	// the 6th to the 9th of the run, and regsql's retry, a second later,
	// is the 10th.
	proxy.Reset()
	var base int64 = -1 // the number of the run's first request
	proxy.Fail(func(n int64, _ string) int {
		if base < 0 {
			base = n
		}
		if i := n - base; i >= 5 && i < 9 {
			return http.StatusInternalServerError
		}
		return 0
	})
	_, stderr, err := run(t, "", "index", "--config", reg.ConfigPath(), "--db", failed, "--concurrency", "1")
	proxy.Fail(nil)
	if err != nil {
		t.Fatalf("index with a burst of failures: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "1 retried") {
		t.Errorf("summary %q, want 1 retried", stderr)
	}
	if got := proxy.Counts()[s3test.KindInjected]; got != 4 {
		t.Errorf("failed requests = %d, want 4 (the SDK's attempts at one request)", got)
	}
	for _, q := range []string{
		"SELECT r.name, t.name, t.digest FROM tags t JOIN repos r ON r.id = t.repo_id ORDER BY 1, 2",
		"SELECT digest, media_type, config_digest FROM manifests ORDER BY 1",
		"SELECT digest, size FROM blobs ORDER BY 1",
		"SELECT kind, path FROM problems ORDER BY 1, 2",
	} {
		a, _, errA := run(t, "", "query", "--db", clean, "-o", "tsv", q)
		b, _, errB := run(t, "", "query", "--db", failed, "-o", "tsv", q)
		if errA != nil || errB != nil || a != b {
			t.Errorf("%s\nwithout failures:\n%s\nwith failures and retries:\n%s", q, a, b)
		}
	}
}
