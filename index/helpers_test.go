package index

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/regsql/regsql/migrations"
	"github.com/regsql/regsql/walker"
)

// feed is a walk that sends fixed records to the sink, as the walker would.
func feed(records ...any) walkFunc {
	return func(_ context.Context, sink walker.Sink) error {
		for _, r := range records {
			if err := send(sink, r); err != nil {
				return err
			}
		}
		return nil
	}
}

func send(sink walker.Sink, r any) error {
	switch r := r.(type) {
	case walker.Repository:
		return sink.Repository(r)
	case walker.Tag:
		return sink.Tag(r)
	case walker.TagHistory:
		return sink.TagHistory(r)
	case walker.Revision:
		return sink.Revision(r)
	case walker.LayerLink:
		return sink.LayerLink(r)
	case walker.Upload:
		return sink.Upload(r)
	case walker.Blob:
		return sink.Blob(r)
	case walker.Manifest:
		return sink.Manifest(r)
	case walker.Problem:
		return sink.Problem(r)
	default:
		return fmt.Errorf("test record of type %T", r)
	}
}

// buildFrom builds an index in t.TempDir() from records and returns its
// path and the build's summary.
func buildFrom(t testing.TB, records ...any) (string, Summary) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "regsql.db")
	sum, err := build(context.Background(), path, migrations.FS, BuildOptions{Root: "/srv/registry", Driver: "filesystem", Version: "test"}, feed(records...))
	if err != nil {
		t.Fatalf("build() error = %v", err)
	}
	return path, sum
}

// openTest opens the index at path and closes it when the test ends.
func openTest(t testing.TB, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open() error = %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// queryRows runs q and returns every row.
func queryRows(t testing.TB, db *DB, q string, params map[string]string) [][]any {
	t.Helper()
	rs, err := db.Query(context.Background(), q, params)
	if err != nil {
		t.Fatalf("Query(%q) error = %v", q, err)
	}
	defer rs.Close()
	var out [][]any
	for rs.Next() {
		out = append(out, rs.Values())
	}
	if err := rs.Err(); err != nil {
		t.Fatalf("Query(%q) rows error = %v", q, err)
	}
	return out
}

// checkRows compares a query's rows with want.
func checkRows(t testing.TB, db *DB, q string, want [][]any) {
	t.Helper()
	got := queryRows(t, db, q, nil)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Query(%q)\n got %v\nwant %v", q, got, want)
	}
}
