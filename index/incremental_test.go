package index

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/walker"
)

// testMargin is the change margin of incremental builds in tests: well
// above the few milliseconds a file system's clock lags, and short enough
// to wait out before every build, so that a build never reads again what
// the build before it read (which would hide a change it failed to find).
const testMargin = 100 * time.Millisecond

// settle waits until whatever happened so far is older than the margin of
// the next build.
func settle() { time.Sleep(testMargin + 50*time.Millisecond) }

// dump returns every row of every table of the index at path, as text
// sorted within each table: repositories by name rather than id, problems
// without their ids, and only the latest scan without its times, mode and
// count of repositories read. Two indexes of the same storage dump the same.
func dump(t *testing.T, path string) map[string][]string {
	t.Helper()
	db := openTest(t, path)
	tables := queryRows(t, db, `SELECT name FROM sqlite_schema WHERE type = 'table'
		AND name <> 'goose_db_version' AND name NOT LIKE 'sqlite_%' ORDER BY name`, nil)
	out := map[string][]string{}
	for _, tr := range tables {
		table := tr[0].(string)
		var exprs []string
		for _, c := range queryRows(t, db, `SELECT name FROM pragma_table_info(:t)`, map[string]string{"t": table}) {
			col := c[0].(string)
			switch {
			case col == "repo_id":
				exprs = append(exprs, `(SELECT name FROM repos WHERE id = x.repo_id)`)
			case col == "id" && table != "schema_docs":
			case table == "scans" && slices.Contains([]string{"started_at", "finished_at", "started_ns", "mode", "repos_read"}, col):
			default:
				exprs = append(exprs, `x."`+col+`"`)
			}
		}
		q := `SELECT ` + strings.Join(exprs, ", ") + ` FROM "` + table + `" x`
		if table == "scans" {
			q += ` WHERE x.id = (SELECT max(id) FROM scans)`
		}
		var rows []string
		for _, r := range queryRows(t, db, q, nil) {
			var cells []string
			for _, v := range r {
				if s, ok := v.(string); ok {
					v = strconv.Quote(s)
				}
				cells = append(cells, fmt.Sprint(v))
			}
			rows = append(rows, strings.Join(cells, " "))
		}
		slices.Sort(rows)
		out[table] = rows
	}
	return out
}

// compareDumps reports every row that is in one index and not the other.
func compareDumps(t *testing.T, got, want map[string][]string) {
	t.Helper()
	for table, w := range want {
		g := got[table]
		if slices.Equal(g, w) {
			continue
		}
		for _, r := range w {
			if !slices.Contains(g, r) {
				t.Errorf("%s: incremental lacks %s", table, r)
			}
		}
		for _, r := range g {
			if !slices.Contains(w, r) {
				t.Errorf("%s: incremental has extra %s", table, r)
			}
		}
		if len(g) != len(w) {
			t.Errorf("%s: incremental has %d rows, full build %d", table, len(g), len(w))
		}
	}
	for table := range got {
		if _, ok := want[table]; !ok {
			t.Errorf("incremental has table %s, full build not", table)
		}
	}
}

// incrementalSetup is a registry with an index of it, which a test changes
// step by step and checks against a full build after each.
type incrementalSetup struct {
	reg  *registrytest.Registry
	s    registrytest.Steps
	st   *walker.DirStorage
	db   string
	opts BuildOptions
	// notices are what the last build said; wholeOK lets the next check
	// derive from the tables read whole, not the graph snapshot.
	notices []string
	wholeOK bool
}

func newIncrementalSetup(t *testing.T) *incrementalSetup {
	reg := registrytest.Start(t)
	return &incrementalSetup{
		reg: reg, s: reg.Steps(t),
		db:   filepath.Join(t.TempDir(), "regsql.db"),
		opts: BuildOptions{Root: reg.Root(), Driver: "filesystem", Version: "test", changeMargin: testMargin},
	}
}

// build runs an index build into the setup's index.
func (x *incrementalSetup) build(t *testing.T) Summary {
	t.Helper()
	if x.st == nil {
		st, err := walker.OpenRoot(x.reg.Root())
		if err != nil {
			t.Fatal(err)
		}
		x.st = st
	}
	settle()
	opts := x.opts
	x.notices = nil
	opts.Notice = func(s string) { x.notices = append(x.notices, s) }
	sum, err := Build(t.Context(), x.db, x.st, opts)
	if err != nil {
		t.Fatalf("Build() error = %v", err)
	}
	return sum
}

// readWhole says whether the last build derived its tables from the
// tables read whole rather than from the graph snapshot, and why.
func (x *incrementalSetup) readWhole() (string, bool) {
	for _, n := range x.notices {
		if strings.HasPrefix(n, "derived tables: reading the whole index") {
			return n, true
		}
	}
	return "", false
}

// check builds incrementally and compares the result, row for row, with a
// full build of the same storage; read, when not negative, is how many
// repositories the change should have made it read.
func (x *incrementalSetup) check(t *testing.T, read int) {
	t.Helper()
	sum := x.build(t)
	if !sum.Incremental {
		t.Fatalf("Build() was not incremental")
	}
	if n, whole := x.readWhole(); whole && !x.wholeOK {
		t.Errorf("Build() did not derive from the graph snapshot: %s", n)
	}
	x.wholeOK = false
	full := filepath.Join(t.TempDir(), "full.db")
	want, err := Build(t.Context(), full, x.st, x.opts)
	if err != nil {
		t.Fatalf("full Build() error = %v", err)
	}
	if want.Incremental {
		t.Fatalf("Build() into a new file was incremental")
	}
	compareDumps(t, dump(t, x.db), dump(t, full))
	if read >= 0 && sum.ReposRead != read {
		t.Errorf("Build() read %d repositories, want %d", sum.ReposRead, read)
	}
}

func img(seed int64, base ...[]byte) *registrytest.Manifest {
	return registrytest.Image(registrytest.ImageOptions{Seed: seed, Base: base, Layers: 1})
}

// TestIncrementalMatchesFull makes every kind of change the registry makes
// (through its API, its garbage collector and its upload purger) one after
// the other, and after each checks that an incremental build reads only
// the repositories that changed and gives, row for row, what a full build
// of the storage gives.
func TestIncrementalMatchesFull(t *testing.T) {
	x := newIncrementalSetup(t)
	s := x.s
	base := registrytest.Layer(7, 512)
	v1 := img(1, base)
	s.Push("app", "v1", v1)
	s.Push("app", "latest", img(2, base))
	untagged := img(3)
	s.Push("app", "", untagged)
	s.Push("app", "multi", registrytest.Index(
		registrytest.Image(registrytest.ImageOptions{Seed: 4, OCI: true}),
		registrytest.Image(registrytest.ImageOptions{Seed: 5, OCI: true, Architecture: "arm64"})))
	api := img(10, base)
	s.Push("team/api", "v1", api)
	worker := img(20)
	s.Push("team/api/worker", "v1", worker)
	s.Push("mirror", "v1", v1) // the same manifest as app:v1
	s.Push("quiet", "v1", img(30))
	s.Push("quiet", "v1", img(31)) // history keeps image 30
	s.Push("uploads", "v1", img(40))
	chunked := s.OpenUpload("uploads")
	if err := chunked.Append([]byte("first chunk ")); err != nil {
		t.Fatal(err)
	}
	s.StartUpload("uploads", []byte("abandoned"))
	s.PushBlob("layers/only", []byte("a layer no manifest uses"))
	if sum := x.build(t); sum.Incremental || sum.Repos != 7 {
		t.Fatalf("first Build() = %+v, want a full build of 7 repositories", sum)
	}
	x.check(t, 0) // nothing changed

	ctx := context.Background()
	drv := x.reg.Driver()
	copyLayers := filepath.Join(x.reg.Root(), "docker/registry/v2/repositories/copy/_layers/sha256")
	lateLink := digest.FromBytes(img(30).Config) // a blob copy has no link to
	steps := []struct {
		name string
		do   func(t *testing.T)
		read int // repositories read again; -1: not checked
	}{
		{name: "push a new tag", do: func(*testing.T) { s.Push("app", "v2", img(50, base)) }, read: 1},
		{name: "move a tag", do: func(*testing.T) { s.Push("app", "latest", img(51)) }, read: 1},
		{name: "push a tag again, same manifest", do: func(*testing.T) {
			time.Sleep(time.Second) // the link times are stored in whole seconds: let them differ
			s.Push("app", "v1", v1)
		}, read: 1},
		{name: "push by digest a manifest already there", do: func(*testing.T) {
			time.Sleep(time.Second)
			s.Push("team/api", "", api)
		}, read: 1},
		{name: "delete a tag", do: func(*testing.T) { s.DeleteTag("app", "v2") }, read: 1},
		{name: "delete an untagged manifest", do: func(*testing.T) { s.DeleteManifest("app", untagged.Digest()) }, read: 1},
		{name: "delete a tagged manifest", do: func(*testing.T) { s.DeleteManifest("team/api/worker", worker.Digest()) }, read: 1},
		{name: "push again a deleted manifest by digest", do: func(*testing.T) { s.Push("app", "", untagged) }, read: 1},
		{name: "new repository", do: func(*testing.T) { s.Push("new/repo", "v1", img(60, base)) }, read: 1},
		// The new directory changes its parent's: that repository is read too.
		{name: "new nested repository", do: func(*testing.T) { s.Push("app/sub", "v1", img(61)) }, read: 2},
		{name: "delete a layer link", do: func(*testing.T) { s.DeleteBlob("team/api", digest.FromBytes(base)) }, read: 1},
		{name: "mount a blob", do: func(*testing.T) { s.MountBlob("mirror", "app", digest.FromBytes(v1.Config)) }, read: 1},
		{name: "push again a deleted layer", do: func(*testing.T) { s.PushBlob("team/api", base) }, read: 1},
		{name: "append to an upload", do: func(t *testing.T) {
			if err := chunked.Append([]byte("second chunk")); err != nil {
				t.Fatal(err)
			}
		}, read: 1},
		{name: "finish an upload", do: func(t *testing.T) {
			if _, err := chunked.Finish([]byte(" last")); err != nil {
				t.Fatal(err)
			}
		}, read: 1},
		{name: "start an upload", do: func(*testing.T) { s.StartUpload("mirror", nil) }, read: 1},
		{name: "purge uploads", do: func(t *testing.T) {
			if _, errs := storage.PurgeUploads(ctx, drv, time.Now().Add(time.Hour), true); len(errs) > 0 {
				t.Fatal(errs)
			}
		}, read: 2},
		{name: "garbage collect, untagged too", do: func(t *testing.T) {
			ns, err := storage.NewRegistry(ctx, drv)
			if err != nil {
				t.Fatal(err)
			}
			if err := storage.MarkAndSweep(ctx, drv, ns, storage.GCOpts{RemoveUntagged: true}); err != nil {
				t.Fatal(err)
			}
		}, read: -1},
		{name: "remove a repository", do: func(t *testing.T) {
			if err := storage.NewVacuum(ctx, drv).RemoveRepository("mirror"); err != nil {
				t.Fatal(err)
			}
		}, read: 0},
		{name: "push a manifest whose blobs the collector removed", do: func(*testing.T) { s.Push("quiet", "old", img(30)) }, read: 1},
		// app/sub's image was its alone: its family's bytes go down though
		// app/sub is not read.
		{name: "push to another repository an image one had alone", do: func(*testing.T) { s.Push("copy", "v1", img(61)) }, read: 1},
		{name: "delete the link to a layer a manifest uses", do: func(*testing.T) {
			s.DeleteBlob("quiet", digest.FromBytes(img(30).Layers[0]))
		}, read: 1},
		// No link names the blob: no repository is read, yet quiet's
		// manifest uses it.
		{name: "lose a blob", do: func(t *testing.T) {
			hex := digest.FromBytes(img(30).Layers[0]).Encoded()
			if err := drv.Delete(ctx, "/docker/registry/v2/blobs/sha256/"+hex[:2]+"/"+hex); err != nil {
				t.Fatal(err)
			}
		}, read: 0},
		// Neither the registry nor any API makes these: by hand. The
		// symbolic link is a layer link the walk follows, not counted as
		// a subdirectory; the empty directory beside it makes up for it.
		{name: "a symbolic link among layer links, and a link directory without its link", do: func(t *testing.T) {
			base := digest.FromBytes(base).Encoded()
			if err := os.Symlink(filepath.Join(x.reg.Root(), "docker/registry/v2/repositories/app/_layers/sha256", base),
				filepath.Join(copyLayers, base)); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(copyLayers, lateLink.Encoded()), 0o755); err != nil {
				t.Fatal(err)
			}
		}, read: 1},
		// copy/_layers/sha256/ does not change, and its link count is the
		// number of layer links the index knows: only the symlink problem
		// the walk recorded has copy read again.
		{name: "a link written in the directory beside the symbolic link", do: func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(copyLayers, lateLink.Encoded(), "link"), []byte(lateLink), 0o644); err != nil {
				t.Fatal(err)
			}
		}, read: 1},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.do(t)
			x.check(t, step.read)
		})
	}
}

// TestIncrementalInterrupted cancels incremental builds at several points
// and checks that each leaves the index byte for byte as it was, readable,
// with no journal beside it.
func TestIncrementalInterrupted(t *testing.T) {
	x := newIncrementalSetup(t)
	x.s.Push("app", "v1", img(1))
	x.s.Push("lib", "v1", img(2))
	x.build(t)
	x.s.Push("app", "v2", img(3))
	x.s.DeleteTag("lib", "v1")
	settle()
	before, err := os.ReadFile(x.db)
	if err != nil {
		t.Fatal(err)
	}
	snapshot, err := os.ReadFile(snapshotPath(x.db))
	if err != nil {
		t.Fatal(err)
	}
	want := dump(t, x.db)

	tests := []struct {
		name string
		at   func(opts *BuildOptions, cancel context.CancelFunc)
	}{
		{name: "before reading", at: func(o *BuildOptions, cancel context.CancelFunc) {
			o.Notice = func(string) { cancel() }
		}},
		{name: "while reading repositories", at: func(o *BuildOptions, cancel context.CancelFunc) {
			o.Progress = func(p walker.Progress) {
				if p.Repos > 0 {
					cancel()
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			opts := x.opts
			tt.at(&opts, cancel)
			if _, err := Build(ctx, x.db, x.st, opts); !errors.Is(err, context.Canceled) {
				t.Fatalf("Build() error = %v, want %v", err, context.Canceled)
			}
			after, err := os.ReadFile(x.db)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Errorf("index changed by an interrupted build")
			}
			if after, err := os.ReadFile(snapshotPath(x.db)); err != nil || !bytes.Equal(snapshot, after) {
				t.Errorf("graph snapshot changed by an interrupted build (%v)", err)
			}
			wantFiles := []string{filepath.Base(x.db), filepath.Base(snapshotPath(x.db))}
			if got := dirNames(t, filepath.Dir(x.db)); !slices.Equal(got, wantFiles) {
				t.Errorf("files after an interrupted build = %v, want only %v", got, wantFiles)
			}
			compareDumps(t, dump(t, x.db), want)
		})
	}
	// Not interrupted, the same build goes through.
	x.check(t, 2)
}

// TestUpdateKilledMidCommit checks that an update killed after it wrote
// some of its pages (the database file and its hot journal as the process
// left them) reads as the index before it: Open rolls the journal back.
func TestUpdateKilledMidCommit(t *testing.T) {
	path, _ := buildFrom(t, scenario()...)
	want := dump(t, path)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	// A small page cache makes the update write pages before its commit.
	db, err := sql.Open("sqlite", fileURI(path)+"?_pragma=cache_size(10)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
		INSERT INTO problems (kind, path, message) SELECT 'stray_file', 'blobs/x' || i, hex(randomblob(40)) FROM n`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE repos SET listed = 0`); err != nil {
		t.Fatal(err)
	}
	killed := filepath.Join(t.TempDir(), "regsql.db")
	for _, suffix := range []string{"", "-journal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatalf("read what the update left: %v", err)
		}
		if err := os.WriteFile(killed+suffix, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(killed); bytes.Equal(b, before) {
		t.Fatalf("the update wrote no page before its commit: nothing to roll back")
	}
	compareDumps(t, dump(t, killed), want)
	if _, err := os.Stat(killed + "-journal"); err == nil {
		t.Errorf("the journal is still there after Open")
	}
}

// TestIncrementalSnapshot checks that an update derives its tables from
// the graph snapshot the build before left, that one which found nothing
// to change keeps the snapshot usable, and that a snapshot that cannot be
// trusted (removed, damaged, or of an earlier state of the index, which
// another writer has changed since) is not used: the update reads the
// tables whole, still gives what a full build gives, and leaves a
// snapshot the next update uses.
func TestIncrementalSnapshot(t *testing.T) {
	x := newIncrementalSetup(t)
	x.s.Push("app", "v1", img(1))
	x.s.Push("lib", "v1", img(2))
	x.build(t)
	x.check(t, 0)
	x.s.Push("app", "v2", img(3))
	x.check(t, 1) // from the snapshot the update that changed nothing stamped again

	// An ingest of usage data writes rows the graph does not hold: the
	// snapshot still holds, and says so.
	writeUsage(t, x.db, pullOf("app", "v1", 3000))
	writeUsage(t, x.db, pullOf("app", "v2", 3100))
	x.s.Push("lib", "v2", img(4))
	if sum := x.build(t); !sum.Incremental || sum.ReposRead != 1 {
		t.Fatalf("Build() after an ingest = %+v, want an incremental one reading 1 repository", sum)
	}
	if n, whole := x.readWhole(); whole {
		t.Errorf("Build() after an ingest of usage data did not use the graph snapshot: %s", n)
	}
	if err := os.Remove(x.db); err != nil { // the next check compares tables the ingest wrote to
		t.Fatal(err)
	}
	x.build(t)

	spoil := func(f func(b []byte) []byte) func(t *testing.T) {
		return func(t *testing.T) {
			b, err := os.ReadFile(snapshotPath(x.db))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(snapshotPath(x.db), f(b), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	seed := int64(10)
	for _, tt := range []struct {
		name  string
		spoil func(t *testing.T)
		why   string
	}{
		{name: "removed", spoil: func(t *testing.T) {
			if err := os.Remove(snapshotPath(x.db)); err != nil {
				t.Fatal(err)
			}
		}, why: errNoSnapshot.Error()},
		{name: "damaged", spoil: spoil(func(b []byte) []byte { b[len(b)/2] ^= 1; return b }), why: "is damaged"},
		{name: "truncated", spoil: spoil(func(b []byte) []byte { return b[:len(b)-5] }), why: "is damaged"},
		{name: "another writer since", spoil: func(t *testing.T) {
			// A hand edit of a row the snapshot does not hold: the file
			// changed all the same, and the snapshot cannot tell how.
			db, err := sql.Open("sqlite", fileURI(x.db))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(`UPDATE scans SET version = 'edited by hand'`); err != nil {
				t.Fatal(err)
			}
		}, why: errNoSnapshot.Error()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seed++
			x.s.Push("lib", fmt.Sprint("v", seed), img(seed))
			settle() // the ingest's writes are older than the margin too
			tt.spoil(t)
			x.wholeOK = true
			x.check(t, 1)
			if n, whole := x.readWhole(); !whole || !strings.Contains(n, tt.why) {
				t.Errorf("Build() with the snapshot %s said %q, want that it read the whole index because %q", tt.name, n, tt.why)
			}
			seed++
			x.s.Push("app", fmt.Sprint("v", seed), img(seed))
			x.check(t, 1)
		})
	}
}

// TestRepoDirsNameEveryDirectory checks that the names an incremental
// build gives a Rescan (walker.RepoDirs) are, in a registry written only
// by the registry, every directory in each repository's
// revisions/sha256/, tags/ and _uploads/: then the Rescan lists none of
// those.
func TestRepoDirsNameEveryDirectory(t *testing.T) {
	x := newIncrementalSetup(t)
	s := x.s
	s.Push("app", "v1", img(1))
	s.Push("app", "v1", img(2)) // history keeps image 1
	s.Push("app", "latest", img(3))
	s.Push("app", "", img(4))
	s.Push("team/api", "v1", img(5))
	s.StartUpload("team/api", []byte("partial"))
	s.StartUpload("team/api", nil)
	s.PushBlob("layers/only", []byte("a layer no manifest uses"))
	x.build(t)

	db, err := sql.Open("sqlite", updateDSN(x.db))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	u := &updater{ctx: t.Context(), tx: tx}
	repos, _, err := u.repos()
	if err != nil {
		t.Fatal(err)
	}
	got, err := u.repoDirs(repos)
	if err != nil {
		t.Fatalf("repoDirs() error = %v", err)
	}
	subdirs := func(dir string) []string {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			if e.IsDir() {
				names = append(names, e.Name())
			}
		}
		return names
	}
	for name := range repos {
		dir := filepath.Join(x.st.Root(), "repositories", name)
		want := walker.RepoDirs{Uploads: subdirs(dir + "/_uploads")}
		keys := func(dir string) [][32]byte {
			var ks [][32]byte
			for _, h := range subdirs(dir) {
				var k [32]byte
				if _, err := hex.Decode(k[:], []byte(h)); err != nil {
					t.Fatal(err)
				}
				ks = append(ks, k)
			}
			return ks
		}
		want.Revisions, want.Layers = keys(dir+"/_manifests/revisions/sha256"), keys(dir+"/_layers/sha256")
		g := got[name]
		slices.SortFunc(g.Revisions, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
		slices.SortFunc(g.Layers, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
		slices.Sort(g.Uploads)
		if !reflect.DeepEqual(g, want) {
			t.Errorf("repoDirs()[%q] = %+v, want %+v", name, g, want)
		}
	}
	if len(got["app"].Revisions) != 4 || len(got["app"].Layers) != 8 || len(got["team/api"].Uploads) != 2 {
		t.Errorf("repoDirs() = %+v, want 4 revisions and 8 layer links of app, 2 uploads of team/api", got)
	}
}
