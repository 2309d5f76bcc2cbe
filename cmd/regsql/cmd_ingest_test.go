package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsql/regsql/internal/registrytest"
)

// lockedBuffer is stderr for a command that runs while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// loggedRegistry pushes an image to a registry that logs to a buffer, pulls
// it twice, indexes it and returns the index and the log.
func loggedRegistry(t *testing.T) (db string, log []byte) {
	t.Helper()
	var buf lockedBuffer
	reg := registrytest.Start(t, registrytest.WithLog(&buf, "json"))
	img := registrytest.Image(registrytest.ImageOptions{Seed: 7})
	reg.Steps(t).Push("team/app", "v1", img)
	for range 2 {
		if _, err := reg.Pull("team/app", "v1"); err != nil {
			t.Fatal(err)
		}
	}
	db = filepath.Join(t.TempDir(), "regsql.db")
	if _, stderr, err := run(t, "", "index", "--root", reg.Root(), "--db", db, "-q"); err != nil {
		t.Fatalf("index: %v\n%s", err, stderr)
	}
	return db, []byte(buf.String())
}

func TestIngestLog(t *testing.T) {
	db, log := loggedRegistry(t)
	file := filepath.Join(t.TempDir(), "registry.log")
	if err := os.WriteFile(file, append([]byte("not a log line\n"), log...), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := run(t, "", "ingest-log", "--db", db, file)
	if err != nil {
		t.Fatalf("ingest-log: %v\n%s", err, stderr)
	}
	for _, want := range []string{"2 pulls", "4 blob pulls", "3 push or deletes", "0 already stored", "1 malformed", "last malformed line: line 1"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("ingest-log stderr = %q, want %q in it", stderr, want)
		}
	}
	// Standard input, the same log: nothing new.
	_, stderr, err = run(t, string(log), "ingest-log", "--db", db, "-")
	if err != nil {
		t.Fatalf("ingest-log -: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "0 pulls") || !strings.Contains(stderr, "5 already stored") {
		t.Errorf("ingest-log of the same log: stderr = %q, want 0 pulls and 5 already stored", stderr)
	}
	out, _, err := run(t, "", "query", "--db", db, "-o", "csv", "SELECT tag, pulls, last_pulled_at IS NOT NULL AS seen FROM tag_pulls")
	if err != nil {
		t.Fatal(err)
	}
	if want := "tag,pulls,seen\nv1,2,1\n"; out != want {
		t.Errorf("tag_pulls = %q, want %q", out, want)
	}
}

func TestIngestLogErrors(t *testing.T) {
	db, _ := loggedRegistry(t)
	tests := []struct {
		name string
		args []string
		want string
		code int
	}{
		{name: "no files", args: []string{"ingest-log", "--db", db}, want: "needs files", code: exitUsage},
		{name: "bad remote mode", args: []string{"ingest-log", "--db", db, "--remote-addr", "mask", "-"}, want: `--remote-addr "mask"`, code: exitUsage},
		{name: "missing file", args: []string{"ingest-log", "--db", db, "/nonexistent/registry.log"}, want: "no such file", code: exitError},
		{name: "no index", args: []string{"ingest-log", "--db", filepath.Join(t.TempDir(), "none.db"), "-"}, want: "regsql index", code: exitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := run(t, "", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) || exitCode(err) != tt.code {
				t.Errorf("%v: error = %v (exit %d), want %q and exit %d", tt.args, err, exitCode(err), tt.want, tt.code)
			}
		})
	}
}

// TestListenNotifications runs the listener, points a real registry's
// notifications at it, pulls, and stops it.
func TestListenNotifications(t *testing.T) {
	db, _ := loggedRegistry(t)
	var stderr lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		app := newApp(strings.NewReader(""), &bytes.Buffer{}, &stderr)
		done <- app.RunContext(ctx, []string{"regsql", "listen-notifications", "--db", db, "--addr", "127.0.0.1:0", "--remote-addr", "drop"})
	}()
	addr := regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+/`)
	deadline := time.Now().Add(20 * time.Second)
	for addr.FindString(stderr.String()) == "" {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("listener never said where it listens: %q", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	url := addr.FindString(stderr.String())
	if resp, err := http.Get(url); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET %s = %v, %v; want 405", url, resp, err)
	}

	reg := registrytest.Start(t, registrytest.WithNotifications(url))
	img := registrytest.Image(registrytest.ImageOptions{Seed: 8})
	reg.Steps(t).Push("team/other", "v2", img)
	if _, err := reg.Pull("team/other", "v2"); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		// The registry sends events in order: the last is the second blob's GET.
		out, _, err := run(t, "", "query", "--db", db, "-o", "csv", `SELECT
			(SELECT count(*) FROM pull_events WHERE repo = 'team/other' AND remote IS NULL) AS pulls,
			(SELECT count(*) FROM blob_pulls WHERE repo = 'team/other') AS blobs`)
		if err == nil && out == "pulls,blobs\n1,2\n" {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the pull never reached the index: %q, %v\n%s", out, err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("listen-notifications: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "stopped: ") {
		t.Errorf("stderr = %q, want a summary on stopping", stderr.String())
	}
	out, _, err := run(t, "", "query", "--db", db, "-o", "csv", "SELECT kind, finished_at IS NOT NULL AS finished FROM usage_sources")
	if err != nil || out != "kind,finished\nlistener,1\n" {
		t.Errorf("usage_sources = %q, %v; want one finished listener", out, err)
	}
}
