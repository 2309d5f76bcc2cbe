package index

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/regsql/regsql/migrations"
	"github.com/regsql/regsql/usage"
)

// writeUsage stores events into the index at path as one source.
func writeUsage(t *testing.T, path string, events ...usage.Event) UsageCounts {
	t.Helper()
	ctx := context.Background()
	w, err := NewUsageWriter(ctx, path, UsageSource{Name: "test.log", Kind: "file"}, UsageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, events, UsageProgress{Lines: int64(len(events)), CoveredFrom: time.Unix(1200, 0)}); err != nil {
		t.Fatalf("Write() error = %v", err)
	}
	if err := w.Finish(ctx, UsageProgress{Lines: int64(len(events)), CoveredFrom: time.Unix(1200, 0)}); err != nil {
		t.Fatalf("Finish() error = %v", err)
	}
	return w.Counts()
}

var nextKey int

func pullOf(repo, ref string, at int64) usage.Event {
	nextKey++
	return usage.Event{Kind: usage.ManifestPull, Key: fmt.Sprint("req-", nextKey), Repo: repo, Reference: ref,
		Time: time.Unix(at, 0), Method: "GET", Status: 200, RemoteAddr: "10.0.0.1:4242"}
}

// TestUsageViews checks how pulls resolve against the index: a pull by tag
// names the tag's digest only when the tag was pushed before it, a tag
// counts pulls of what it reaches by digest, and a config blob's GET counts
// for its image.
func TestUsageViews(t *testing.T) {
	path, _ := buildFrom(t, scenario()...)
	blob := usage.Event{Kind: usage.BlobPull, Repo: "multi", Digest: string(cxa), Reference: string(cxa), Time: time.Unix(4000, 0), Method: "GET"}
	earlier := blob
	earlier.Time = time.Unix(3500, 0)
	got := writeUsage(t, path,
		pullOf("app", "latest", 3000),     // latest was pushed at 2000: m2
		pullOf("app", "latest", 1500),     // before that push: unknown
		pullOf("app", string(m1), 2500),   // by digest
		pullOf("multi", string(ca), 2600), // a child of v1's index, by digest
		pullOf("gone", "x", 2700),         // a repository the index lacks
		blob, earlier,                     // v1's amd64 child's config
	)
	if want := (UsageCounts{Pulls: 5, BlobPulls: 2}); got != want {
		t.Errorf("Write() counts = %+v, want %+v", got, want)
	}
	db := openTest(t, path)
	checkRows(t, db, `SELECT repo, reference, tag, digest, repo_id IS NULL FROM pulls ORDER BY pulled_at`, [][]any{
		{"app", "latest", "latest", nil, int64(0)},
		{"app", string(m1), nil, string(m1), int64(0)},
		{"multi", string(ca), nil, string(ca), int64(0)},
		{"gone", "x", "x", nil, int64(1)},
		{"app", "latest", "latest", string(m2), int64(0)},
	})
	checkRows(t, db, `SELECT r.name, p.digest, p.pulls, p.first_pulled_at, p.config_pulled_at, p.last_pulled_at
		FROM manifest_pulls p JOIN repos r ON r.id = p.repo_id WHERE p.last_pulled_at IS NOT NULL ORDER BY p.last_pulled_at`, [][]any{
		{"app", string(m1), int64(1), int64(2500), nil, int64(2500)},
		{"app", string(m2), int64(1), int64(3000), nil, int64(3000)},
		{"multi", string(ca), int64(1), int64(2600), int64(4000), int64(4000)},
	})
	checkRows(t, db, `SELECT r.name, p.tag, p.pulls, p.digest_pulls, p.last_pulled_at
		FROM tag_pulls p JOIN repos r ON r.id = p.repo_id ORDER BY 1, 2`, [][]any{
		{"app", "ghost", int64(0), int64(0), nil},
		{"app", "latest", int64(2), int64(0), int64(3000)},
		{"lib", "1.0", int64(0), int64(0), nil},
		{"multi", "v1", int64(0), int64(1), int64(4000)},
	})
	checkRows(t, db, `SELECT first_pulled_at, last_pulled_at FROM blob_pulls`, [][]any{{int64(3500), int64(4000)}})
	checkRows(t, db, `SELECT covered_from, sources FROM usage_coverage`, [][]any{{int64(1200), int64(1)}})
	checkRows(t, db, `SELECT name, kind, lines, pulls, blob_pulls, finished_at IS NOT NULL FROM usage_sources`, [][]any{
		{"test.log", "file", int64(7), int64(5), int64(2), int64(1)},
	})
}

// TestUsageDuplicates: the same request read again adds nothing, and a
// notification of a request first read from a log fills in its digest.
func TestUsageDuplicates(t *testing.T) {
	path, _ := buildFrom(t, scenario()...)
	byTag := pullOf("app", "latest", 1500) // before latest's push: unresolved
	writeUsage(t, path, byTag)
	again := writeUsage(t, path, byTag)
	if want := (UsageCounts{Duplicates: 1}); again != want {
		t.Errorf("Write() of the same pull = %+v, want %+v", again, want)
	}
	note := byTag
	note.Digest = string(m1)
	writeUsage(t, path, note)
	db := openTest(t, path)
	checkRows(t, db, `SELECT reference, digest FROM pulls`, [][]any{{"latest", string(m1)}})
}

// TestReindexWhileWriting writes pulls while the index is rebuilt over and
// over at the same path: every write lands in the file that ends up at the
// path, none in one a rename replaced.
func TestReindexWhileWriting(t *testing.T) {
	path, _ := buildFrom(t, scenario()...)
	ctx := context.Background()
	w, err := NewUsageWriter(ctx, path, UsageSource{Name: "listener", Kind: "listener"}, UsageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const writes = 60
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := range writes {
			if err := w.Write(ctx, []usage.Event{pullOf("app", "latest", int64(3000+i))}, UsageProgress{}); err != nil {
				t.Errorf("Write() error = %v", err)
				return
			}
		}
	}()
	builds := 0
	for running := true; running || builds < 2; builds++ {
		select {
		case <-done:
			running = false
		default:
		}
		if _, err := build(ctx, path, migrations.FS, BuildOptions{Version: "test"}, feed(scenario()...)); err != nil {
			t.Errorf("build() error = %v", err)
			break
		}
	}
	wg.Wait()
	db := openTest(t, path)
	checkRows(t, db, `SELECT count(*) FROM pull_events`, [][]any{{int64(writes)}})
	checkRows(t, db, `SELECT count(*), sum(pulls) FROM usage_sources`, [][]any{{int64(1), int64(writes)}})
}

// TestCopyUsageColumnsByName: an index whose usage table lacks a column
// this schema has still gives its rows.
func TestCopyUsageColumnsByName(t *testing.T) {
	path, _ := buildFrom(t, scenario()...)
	writeUsage(t, path, pullOf("app", "latest", 3000))
	old := openTest(t, path)
	old.Close()
	// An older schema without the status column.
	if err := writeSQLite(path, `ALTER TABLE pull_events DROP COLUMN status`); err != nil {
		t.Fatal(err)
	}
	if _, err := build(context.Background(), path, migrations.FS, BuildOptions{Version: "test"}, feed(scenario()...)); err != nil {
		t.Fatalf("build() error = %v", err)
	}
	db := openTest(t, path)
	checkRows(t, db, `SELECT reference, status FROM pull_events`, [][]any{{"latest", nil}})
}
