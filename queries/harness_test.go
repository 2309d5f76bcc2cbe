package queries

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/internal/registrygc"
	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/queries/builtin"
	"github.com/regsql/regsql/walker"
)

// testNow is the :now the tests run reports with, unless they pin another.
const testNow = 2_000_000_000

// builtins is the library of built-in reports the tests run.
func builtins(t *testing.T) *Library {
	t.Helper()
	lib, err := Load(builtin.FS())
	if err != nil {
		t.Fatalf("Load(builtin) error = %v", err)
	}
	return lib
}

// buildIndex indexes the registry storage at root into a database in
// t.TempDir() and opens it.
func buildIndex(t *testing.T, root, driver string) *index.DB {
	t.Helper()
	ctx := context.Background()
	st, err := walker.OpenRoot(root)
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	path := filepath.Join(t.TempDir(), "regsql.db")
	if _, err := index.Build(ctx, path, st, index.BuildOptions{Root: root, Driver: driver, Version: "test"}); err != nil {
		t.Fatalf("index.Build() error = %v", err)
	}
	db, err := index.Open(ctx, path)
	if err != nil {
		t.Fatalf("index.Open() error = %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// indexRegistry indexes a test registry's storage as regsql does: the
// directory of a filesystem registry, the config of one on S3.
func indexRegistry(t *testing.T, reg *registrytest.Registry) *index.DB {
	t.Helper()
	if reg.Backend() == registrytest.Filesystem {
		return buildIndex(t, reg.Root(), "filesystem")
	}
	ctx := context.Background()
	st, _, err := walker.OpenConfig(ctx, reg.ConfigPath(), walker.DriverOptions{})
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	path := filepath.Join(t.TempDir(), "regsql.db")
	if _, err := index.Build(ctx, path, st, index.BuildOptions{Root: reg.ConfigPath(), Driver: string(reg.Backend()), Version: "test"}); err != nil {
		t.Fatalf("index.Build() error = %v", err)
	}
	db, err := index.Open(ctx, path)
	if err != nil {
		t.Fatalf("index.Open() error = %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// row is one result row, column name to value.
type row map[string]any

// runReport runs the built-in report name with params as -p would give them.
func runReport(t *testing.T, db *index.DB, name string, params map[string]string) []row {
	t.Helper()
	q, ok := builtins(t).Get(name)
	if !ok {
		t.Fatalf("no built-in report %q", name)
	}
	bound, err := q.Bind(params)
	if err != nil {
		t.Fatalf("%s: Bind() error = %v", name, err)
	}
	return runSQL(t, db, q.SQL, bound)
}

// runSQL runs query with params on db, :now pinned to testNow unless
// params set it.
func runSQL(t *testing.T, db *index.DB, query string, params map[string]string) []row {
	t.Helper()
	p := map[string]string{NowParam: fmt.Sprint(testNow)}
	maps.Copy(p, params)
	rows, err := db.Query(context.Background(), query, p)
	if err != nil {
		t.Fatalf("run SQL: %v\n%s", err, query)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		r := row{}
		for i, c := range rows.Columns() {
			r[c] = rows.Values()[i]
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("run SQL: %v", err)
	}
	return out
}

// column returns the sorted distinct string values of col in rows; NULL
// values are left out.
func column(rows []row, col string) []string {
	set := map[string]bool{}
	for _, r := range rows {
		if v, ok := r[col]; ok && v != nil {
			set[fmt.Sprint(v)] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// gcResult is what a MarkAndSweep dry run says it would delete.
type gcResult struct {
	Blobs     []string // digests
	Manifests []string // "repo@digest"
}

// registryGC runs distribution's own garbage collector as a dry run on drv.
func registryGC(t *testing.T, drv storagedriver.StorageDriver, removeUntagged bool) gcResult {
	t.Helper()
	res, err := registrygc.DryRun(context.Background(), drv, removeUntagged)
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	out := gcResult{Manifests: res.Manifests}
	for _, d := range res.Blobs {
		out.Blobs = append(out.Blobs, d.String())
	}
	return out
}

// runGC runs the registry's garbage collector for real, quietly.
func runGC(t *testing.T, reg *registrytest.Registry, removeUntagged bool) error {
	t.Helper()
	ctx := context.Background()
	ns, err := storage.NewRegistry(ctx, reg.Driver())
	if err != nil {
		t.Fatal(err)
	}
	return storage.MarkAndSweep(ctx, reg.Driver(), ns, storage.GCOpts{RemoveUntagged: removeUntagged, Quiet: true})
}

// storagePath is a path in the registry's storage, below docker/registry/v2.
func storagePath(reg *registrytest.Registry, parts ...string) string {
	return filepath.Join(append([]string{reg.Root(), "docker", "registry", "v2"}, parts...)...)
}

// daysAgo is a time n days before testNow.
func daysAgo(n int) time.Time { return time.Unix(testNow-int64(n)*86400, 0) }

// touch sets a storage file's modification time, which the index reads as
// when a link was written: to age a push without waiting for it.
func touch(t *testing.T, path string, at time.Time) {
	t.Helper()
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

// setTagTime makes repo:tag look pushed at at.
func setTagTime(t *testing.T, reg *registrytest.Registry, repo, tag string, at time.Time) {
	t.Helper()
	touch(t, storagePath(reg, "repositories", repo, "_manifests", "tags", tag, "current", "link"), at)
}

// setRevisionTime makes manifest d look first pushed to repo at at.
func setRevisionTime(t *testing.T, reg *registrytest.Registry, repo string, d digest.Digest, at time.Time) {
	t.Helper()
	touch(t, storagePath(reg, "repositories", repo, "_manifests", "revisions", d.Algorithm().String(), d.Encoded(), "link"), at)
}

// bytesOf is the size of everything m uploads: its body, config and
// layers, and its children's, less the blobs in shared.
func bytesOf(m *registrytest.Manifest, shared ...[]byte) int64 {
	skip := map[digest.Digest]bool{}
	for _, b := range shared {
		skip[digest.FromBytes(b)] = true
	}
	seen := map[digest.Digest]bool{}
	var n int64
	var add func(m *registrytest.Manifest)
	count := func(b []byte) {
		d := digest.FromBytes(b)
		if b == nil || skip[d] || seen[d] {
			return
		}
		seen[d] = true
		n += int64(len(b))
	}
	add = func(m *registrytest.Manifest) {
		count(m.Body)
		count(m.Config)
		for _, l := range m.Layers {
			count(l)
		}
		for _, c := range m.Children {
			add(c)
		}
	}
	add(m)
	return n
}

// rowKeys renders rows as "repo:tag@digest" strings, sorted, for comparing
// candidate lists.
func rowKeys(rows []row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%s:%s@%s", str(r["repo"]), str(r["tag"]), str(r["digest"])))
	}
	slices.Sort(out)
	return out
}
