package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/walker"
)

// db is an index built from a storage root, with helpers to read it. The
// helpers take the running (sub)test, which they fail on a query error.
type db struct {
	db *index.DB
}

// buildIndex walks root with the real walker into a fresh index and opens it.
func buildIndex(t *testing.T, root string) *db {
	t.Helper()
	st, err := walker.OpenRoot(root)
	if err != nil {
		t.Fatalf("OpenRoot(%q) = %v", root, err)
	}
	return buildIndexOf(t, st, root)
}

// indexRegistry indexes a test registry's storage as regsql does: the
// directory of a filesystem registry, the config of one on S3.
func indexRegistry(t *testing.T, reg *registrytest.Registry) *db {
	t.Helper()
	if reg.Backend() == registrytest.Filesystem {
		return buildIndex(t, reg.Root())
	}
	st, _, err := walker.OpenConfig(context.Background(), reg.ConfigPath(), walker.DriverOptions{})
	if err != nil {
		t.Fatalf("OpenConfig() = %v", err)
	}
	return buildIndexOf(t, st, reg.ConfigPath())
}

// buildIndexOf walks st into a fresh index and opens it.
func buildIndexOf(t *testing.T, st walker.Storage, root string) *db {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	if _, err := index.Build(ctx, path, st, index.BuildOptions{Root: root, Version: "test"}); err != nil {
		t.Fatalf("Build() = %v", err)
	}
	d, err := index.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return &db{db: d}
}

// rows runs sql with :name parameters from kv (name, value pairs) and
// returns every row, each value formatted as text (NULL for nil), so that
// rows compare as plain strings whatever driver types come back.
func (d *db) rows(t testing.TB, sql string, kv ...string) [][]string {
	t.Helper()
	params := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		params[kv[i]] = kv[i+1]
	}
	rs, err := d.db.Query(context.Background(), sql, params)
	if err != nil {
		t.Fatalf("Query(%s) = %v", oneLine(sql), err)
	}
	defer rs.Close()
	var out [][]string
	for rs.Next() {
		var row []string
		for _, v := range rs.Values() {
			row = append(row, text(v))
		}
		out = append(out, row)
	}
	if err := rs.Err(); err != nil {
		t.Fatalf("Query(%s) rows: %v", oneLine(sql), err)
	}
	return out
}

// column returns the first column of every row.
func (d *db) column(t testing.TB, sql string, kv ...string) []string {
	t.Helper()
	var out []string
	for _, r := range d.rows(t, sql, kv...) {
		out = append(out, r[0])
	}
	return out
}

// value returns the single value of a one-row, one-column query.
func (d *db) value(t testing.TB, sql string, kv ...string) string {
	t.Helper()
	rows := d.rows(t, sql, kv...)
	if len(rows) != 1 || len(rows[0]) != 1 {
		t.Fatalf("Query(%s) = %v, want one value", oneLine(sql), rows)
	}
	return rows[0][0]
}

func text(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return string(v)
	default:
		return fmt.Sprint(v)
	}
}

func oneLine(sql string) string { return strings.Join(strings.Fields(sql), " ") }
