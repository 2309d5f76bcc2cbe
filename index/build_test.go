package index

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regsql/regsql/migrations"
	"github.com/regsql/regsql/walker"
)

// TestBuildFailureLeavesOldIndex checks that a build that fails or is
// cancelled leaves the previous index byte for byte and no temporary file.
func TestBuildFailureLeavesOldIndex(t *testing.T) {
	errBoom := errors.New("storage went away")
	tests := []struct {
		name    string
		walk    func(cancel context.CancelFunc) walkFunc
		wantErr error
	}{
		{
			name: "walk fails",
			walk: func(context.CancelFunc) walkFunc {
				return func(ctx context.Context, sink walker.Sink) error {
					if err := feed(scenario()...)(ctx, sink); err != nil {
						return err
					}
					return errBoom
				}
			},
			wantErr: errBoom,
		},
		{
			name: "cancelled, walk returns the context's error",
			walk: func(cancel context.CancelFunc) walkFunc {
				return func(ctx context.Context, sink walker.Sink) error {
					if err := feed(scenario()[:10]...)(ctx, sink); err != nil {
						return err
					}
					cancel()
					return ctx.Err()
				}
			},
			wantErr: context.Canceled,
		},
		{
			name: "cancelled, walk stops early without an error",
			walk: func(cancel context.CancelFunc) walkFunc {
				return func(ctx context.Context, sink walker.Sink) error {
					cancel()
					return nil
				}
			},
			wantErr: context.Canceled,
		},
		{
			name: "cancelled while the sink writes",
			walk: func(cancel context.CancelFunc) walkFunc {
				return func(ctx context.Context, sink walker.Sink) error {
					cancel()
					for i := range 2 * maxBatchRows {
						if err := sink.Blob(walker.Blob{Digest: dg(string(rune(i))), Size: 1}); err != nil {
							return err
						}
					}
					return nil
				}
			},
			wantErr: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "regsql.db")
			if _, err := build(t.Context(), path, migrations.FS, BuildOptions{}, feed(scenario()...)); err != nil {
				t.Fatalf("first build() error = %v", err)
			}
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			_, err = build(ctx, path, migrations.FS, BuildOptions{}, tt.walk(cancel))
			if err == nil {
				t.Fatalf("build() error = nil, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("build() error = %v, want %v", err, tt.wantErr)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Errorf("index changed by a failed build (%d bytes before, %d after)", len(before), len(after))
			}
			if got := dirNames(t, dir); !slices.Equal(got, []string{"regsql.db"}) {
				t.Errorf("files after a failed build = %v, want only regsql.db", got)
			}
		})
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestBuildReplaces checks that a successful build replaces the previous
// index and leaves nothing else behind.
func TestBuildReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "regsql.db")
	if _, err := build(t.Context(), path, migrations.FS, BuildOptions{}, feed(scenario()...)); err != nil {
		t.Fatalf("first build() error = %v", err)
	}
	// A reader that holds the old index open keeps reading the old file.
	old := openTest(t, path)
	sum, err := build(t.Context(), path, migrations.FS, BuildOptions{Version: "second"},
		feed(walker.Repository{Name: "only", Listed: true}))
	if err != nil {
		t.Fatalf("second build() error = %v", err)
	}
	if sum.Repos != 1 || sum.Duration <= 0 {
		t.Errorf("second build() = %+v, want 1 repo and a duration", sum)
	}
	checkRows(t, old, `SELECT count(*) FROM repos`, [][]any{{int64(5)}})
	db := openTest(t, path)
	checkRows(t, db, `SELECT name FROM repos`, [][]any{{"only"}})
	checkRows(t, db, `SELECT version FROM scans`, [][]any{{"second"}})
	if got := dirNames(t, dir); !slices.Equal(got, []string{"regsql.db"}) {
		t.Errorf("files after build = %v, want only regsql.db", got)
	}
}

func TestBuildRefusesToReplace(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(path string) error
		wantErr error // nil: the build succeeds
	}{
		{name: "missing file", setup: func(string) error { return nil }},
		{name: "empty file", setup: func(p string) error { return os.WriteFile(p, nil, 0o644) }},
		{name: "text file", setup: func(p string) error { return os.WriteFile(p, []byte("my notes\n"), 0o644) }, wantErr: ErrWouldReplace},
		{name: "directory", setup: func(p string) error { return os.Mkdir(p, 0o755) }, wantErr: ErrWouldReplace},
		{name: "another SQLite database", setup: func(p string) error {
			return writeSQLite(p, "CREATE TABLE accounts (id INTEGER)")
		}, wantErr: ErrWouldReplace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "regsql.db")
			if err := tt.setup(path); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)
			_, err := build(t.Context(), path, migrations.FS, BuildOptions{}, feed())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("build() error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil {
				openTest(t, path)
				return
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Errorf("build() changed the file it refused to replace")
			}
			if got := dirNames(t, dir); !slices.Equal(got, []string{"regsql.db"}) {
				t.Errorf("files after a refused build = %v, want only regsql.db", got)
			}
		})
	}
}

func TestWriterRecords(t *testing.T) {
	path, _ := buildFrom(t,
		walker.Problem{Kind: walker.ProblemUnreadable, Path: "repositories/late/_layers", Repo: "late", Message: "permission denied"},
		walker.Repository{Name: "late", Listed: true, HasUploads: true},
		walker.Problem{Kind: walker.ProblemBadBlobPath, Path: "blobs/sha256/zz", Message: "not a blob path"},
		walker.Tag{Repo: "late", Name: "v1", Digest: m1}, // zero time
		walker.Revision{Repo: "late", Digest: m1, LinkedAt: t1000},
		walker.Upload{Repo: "late", UUID: "u1", Size: 3},
		walker.Blob{Digest: m1, Size: 5},
		walker.Blob{Digest: m1, Size: 5}, // twice: kept once
		walker.Manifest{Digest: m1, Kind: walker.KindInvalid, Size: 5},
	)
	db := openTest(t, path)
	checkRows(t, db, `SELECT name, listed, has_layers, has_uploads FROM repos`, [][]any{{"late", int64(1), int64(0), int64(1)}})
	checkRows(t, db, `SELECT kind, repo_id, digest FROM problems ORDER BY id`, [][]any{
		{"unreadable", int64(1), nil},
		{"bad_blob_path", nil, nil},
	})
	checkRows(t, db, `SELECT pushed_at FROM tags`, [][]any{{nil}})
	checkRows(t, db, `SELECT target FROM revisions`, [][]any{{string(m1)}}) // no Target: the path's digest
	checkRows(t, db, `SELECT started_at, size FROM uploads`, [][]any{{nil, int64(3)}})
	checkRows(t, db, `SELECT modified_at FROM blobs`, [][]any{{nil}})
	checkRows(t, db, `SELECT media_type, kind, schema_version, body, total_size, labels FROM manifests`,
		[][]any{{"", "invalid", nil, nil, int64(5), nil}})
}

// TestWriterKeepsFirst sends second rows for keys of manifests, refs and
// blobs, which the walker does not send but a Sink may get: the index
// keeps the first, as it does for links, rather than fail. A load that
// left the keys to indexes built after it would have to drop the second
// rows itself (see docs/performance.md, "Tried and not kept").
func TestWriterKeepsFirst(t *testing.T) {
	layer, other := dg("layer"), dg("other")
	path, _ := buildFrom(t,
		walker.Blob{Digest: layer, Size: 5},
		walker.Blob{Digest: layer, Size: 6},
		walker.Manifest{Digest: m1, MediaType: ociImage, Kind: walker.KindImage, Size: 10, References: []walker.Reference{
			{Kind: walker.RefLayer, Position: 0, Digest: layer, Size: 5},
			{Kind: walker.RefLayer, Position: 1, Digest: other, Size: 7},
			{Kind: walker.RefLayer, Position: 0, Digest: other, Size: 7},
		}},
		walker.Manifest{Digest: m1, MediaType: ociImage, Kind: walker.KindInvalid, Size: 11},
	)
	db := openTest(t, path)
	checkRows(t, db, `SELECT digest, size FROM blobs`, [][]any{{string(layer), int64(5)}})
	checkRows(t, db, `SELECT kind, size, total_size FROM manifests`, [][]any{{"image", int64(10), int64(22)}})
	checkRows(t, db, `SELECT position, digest FROM refs ORDER BY position`,
		[][]any{{int64(0), string(layer)}, {int64(1), string(other)}})
}

// TestBuildPageSize checks that the index has the pages buildDSN asks for:
// a pragma that did not apply would go unnoticed.
func TestBuildPageSize(t *testing.T) {
	path, _ := buildFrom(t, walker.Repository{Name: "app", Listed: true})
	checkRows(t, openTest(t, path), `PRAGMA page_size`, [][]any{{int64(buildPageSize)}})
}

// TestWriterBatches sends more rows than one statement carries, so that
// both the prepared full statement and the final partial one run.
func TestWriterBatches(t *testing.T) {
	const n = 3*maxBatchRows + 7
	var recs []any
	m := walker.Manifest{Digest: dg("big"), MediaType: ociImage, Kind: walker.KindImage, Size: 10}
	for i := range n {
		d := dg("blob " + strings.Repeat("x", i))
		recs = append(recs, walker.Blob{Digest: d, Size: int64(i), ModifiedAt: time.Unix(int64(i), 0)})
		m.References = append(m.References, walker.Reference{Kind: walker.RefLayer, Position: i, Digest: d, Size: 1})
	}
	recs = append(recs, m)
	path, sum := buildFrom(t, recs...)
	if sum.Blobs != n || sum.BlobBytes != int64(n*(n-1)/2) {
		t.Errorf("build() = %d blobs of %d bytes, want %d of %d", sum.Blobs, sum.BlobBytes, n, n*(n-1)/2)
	}
	db := openTest(t, path)
	checkRows(t, db, `SELECT count(*), sum(size), max(position) FROM refs`, [][]any{{int64(n), int64(n), int64(n - 1)}})
	checkRows(t, db, `SELECT total_size FROM manifests`, [][]any{{int64(10 + n)}})
}

// TestBuildSampleRegistry builds the index of the sample registry, which a
// real registry wrote, with the real walker, and checks it against what
// testdata/sample-registry/README.md says is in it.
func TestBuildSampleRegistry(t *testing.T) {
	st, err := walker.OpenRoot(filepath.Join("..", "testdata", "sample-registry"))
	if err != nil {
		t.Fatalf("OpenRoot() error = %v", err)
	}
	path := filepath.Join(t.TempDir(), "regsql.db")
	var progressed bool
	sum, err := Build(t.Context(), path, st, BuildOptions{Root: "sample", Driver: "filesystem", Version: "test",
		Progress: func(walker.Progress) { progressed = true }})
	if err != nil {
		t.Fatalf("Build() error = %v", err)
	}
	if sum.Repos != 5 || sum.Tags == 0 || sum.Manifests == 0 || sum.Blobs == 0 || !progressed {
		t.Errorf("Build() = %+v (progress reported: %v), want 5 repos and some tags, manifests and blobs", sum, progressed)
	}
	db := openTest(t, path)
	checkRows(t, db, `SELECT name FROM repos WHERE listed ORDER BY name`, [][]any{
		{"library/alpine"}, {"team/api"}, {"team/api/worker"}, {"tools/builder"},
	})
	checkRows(t, db, `SELECT r.name, substr(u.digest, 8, 8) FROM untagged_revisions u JOIN repos r ON r.id = u.repo_id ORDER BY 1, 2`, [][]any{
		{"team/api", "03a6ce04"}, {"team/api", "d32bcb68"}, {"team/api", "fe19e0af"}, {"team/api/worker", "b0fbf5ac"},
	})
	checkRows(t, db, `SELECT count(*) FROM problems WHERE kind = 'layers_only_repo'`, [][]any{{int64(1)}})
	checkRows(t, db, `SELECT b.repos FROM blob_usage b WHERE b.digest LIKE 'sha256:a21ec5e3%'`, [][]any{{int64(4)}})
	checkRows(t, db, `SELECT b.repos, b.layer_links FROM blob_usage b WHERE b.digest LIKE 'sha256:162f853f%'`, [][]any{{int64(0), int64(1)}})
}

// TestBuildCancelledWithWalker cancels a real walk before it starts.
func TestBuildCancelledWithWalker(t *testing.T) {
	st, err := walker.OpenRoot(filepath.Join("..", "testdata", "sample-registry"))
	if err != nil {
		t.Fatalf("OpenRoot() error = %v", err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Build(ctx, filepath.Join(dir, "regsql.db"), st, BuildOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Build() error = %v, want %v", err, context.Canceled)
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Errorf("files after a cancelled build = %v, want none", got)
	}
}

// writeSQLite creates an SQLite database at path holding what stmt makes.
func writeSQLite(path, stmt string) error {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	if _, err := db.Exec(stmt); err != nil {
		db.Close()
		return err
	}
	return db.Close()
}

// TestBuildOddPath checks that a file name with characters that mean
// something in a URI still names the file.
func TestBuildOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my index?x=1#frag")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "reg sql %41.db")
	if _, err := build(t.Context(), path, migrations.FS, BuildOptions{}, feed(walker.Repository{Name: "app", Listed: true})); err != nil {
		t.Fatalf("build() error = %v", err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"reg sql %41.db"}) {
		t.Errorf("files = %v, want only %q", got, "reg sql %41.db")
	}
	checkRows(t, openTest(t, path), "SELECT name FROM repos", [][]any{{"app"}})
}

// TestBuildSchemaIsMigrations checks that a built index has exactly the
// schema of a database the migrations alone create, although Build drops
// the secondary indexes for the load and creates them again after it.
func TestBuildSchemaIsMigrations(t *testing.T) {
	built, _ := buildFrom(t, walker.Repository{Name: "app", Listed: true})

	migrated := filepath.Join(t.TempDir(), "migrated.db")
	mdb, err := sql.Open("sqlite", fileURI(migrated))
	if err != nil {
		t.Fatalf("sql.Open() error = %v", err)
	}
	defer mdb.Close()
	if err := migrate(t.Context(), mdb, migrations.FS); err != nil {
		t.Fatalf("migrate() error = %v", err)
	}

	const q = `SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master
	            WHERE name NOT LIKE 'sqlite_stat%' ORDER BY type, name`
	schema := func(db *sql.DB) []string {
		rows, err := db.QueryContext(t.Context(), q)
		if err != nil {
			t.Fatalf("query schema: %v", err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var typ, name, tbl, def string
			if err := rows.Scan(&typ, &name, &tbl, &def); err != nil {
				t.Fatalf("scan schema: %v", err)
			}
			got = append(got, typ+" "+name+" on "+tbl+": "+def)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("read schema: %v", err)
		}
		return got
	}
	bdb, err := sql.Open("sqlite", fileURI(built))
	if err != nil {
		t.Fatalf("sql.Open() error = %v", err)
	}
	defer bdb.Close()
	got, want := schema(bdb), schema(mdb)
	if !slices.Equal(got, want) {
		t.Errorf("built schema = %q\nwant (migrations) %q", got, want)
	}
	if len(want) == 0 || !slices.ContainsFunc(want, func(s string) bool { return strings.HasPrefix(s, "index refs_digest") }) {
		t.Errorf("migrated schema = %q, want the migrations' indexes in it", want)
	}
}
