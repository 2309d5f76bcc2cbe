package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/regsql/regsql/migrations"
	"github.com/regsql/regsql/walker"
)

// sharedIndex is one scenario index for the read-only tests, built once:
// they never change it.
var sharedIndex = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "regsql-index-test-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "regsql.db")
	_, err = build(context.Background(), path, migrations.FS, BuildOptions{Root: "r", Driver: "filesystem", Version: "test"}, feed(scenario()...))
	return path, err
})

func TestMain(m *testing.M) {
	code := m.Run()
	if path, err := sharedIndex(); err == nil {
		os.RemoveAll(filepath.Dir(path))
	}
	os.Exit(code)
}

func sharedDB(t *testing.T) *DB {
	t.Helper()
	path, err := sharedIndex()
	if err != nil {
		t.Fatalf("build() error = %v", err)
	}
	return openTest(t, path)
}

func TestQueryParams(t *testing.T) {
	db := sharedDB(t)
	tests := []struct {
		name   string
		query  string
		params map[string]string
		want   [][]any
	}{
		{name: "integer", query: "SELECT :n, typeof(:n)", params: map[string]string{"n": "30"}, want: [][]any{{int64(30), "integer"}}},
		{name: "negative integer", query: "SELECT :n", params: map[string]string{"n": "-7"}, want: [][]any{{int64(-7)}}},
		{name: "decimal", query: "SELECT :x, typeof(:x)", params: map[string]string{"x": "1.5"}, want: [][]any{{1.5, "real"}}},
		{name: "exponent", query: "SELECT :x", params: map[string]string{"x": "1e3"}, want: [][]any{{1000.0}}},
		{name: "text", query: "SELECT :s, typeof(:s)", params: map[string]string{"s": "latest"}, want: [][]any{{"latest", "text"}}},
		{name: "leading zeros stay text", query: "SELECT :s, typeof(:s)", params: map[string]string{"s": "007"}, want: [][]any{{"007", "text"}}},
		{name: "NaN stays text", query: "SELECT typeof(:s)", params: map[string]string{"s": "NaN"}, want: [][]any{{"text"}}},
		{name: "empty stays text", query: "SELECT typeof(:s)", params: map[string]string{"s": ""}, want: [][]any{{"text"}}},
		{name: "used twice, bound once", query: "SELECT :n + :n", params: map[string]string{"n": "2"}, want: [][]any{{int64(4)}}},
		{name: "now pinned", query: "SELECT :now", params: map[string]string{"now": "1700000000"}, want: [][]any{{int64(1700000000)}}},
		{name: "unused params ignored", query: "SELECT 1", params: map[string]string{"days": "3"}, want: [][]any{{int64(1)}}},
		{name: "colons in strings and comments", query: "SELECT '10:30', \":x\" FROM (SELECT 1 AS \":x\") -- :y\n/* :z */", want: [][]any{{"10:30", int64(1)}}},
		{name: "trailing semicolon and comment", query: "SELECT 1; -- done\n", want: [][]any{{int64(1)}}},
		{name: "a param in a real query", query: "SELECT name FROM tags WHERE repo_id = (SELECT id FROM repos WHERE name = :repo) AND pushed_at < :t ORDER BY name",
			params: map[string]string{"repo": "app", "t": "3000"}, want: [][]any{{"ghost"}, {"latest"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := queryRows(t, db, tt.query, tt.params)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Query(%q) = %v, want %v", tt.query, got, tt.want)
			}
		})
	}
}

func TestQueryNow(t *testing.T) {
	db := sharedDB(t)
	before := time.Now().Unix()
	got := queryRows(t, db, "SELECT :now", nil)
	after := time.Now().Unix()
	now, ok := got[0][0].(int64)
	if !ok || now < before || now > after {
		t.Errorf("Query(SELECT :now) = %v, want an integer in [%d, %d]", got, before, after)
	}
}

func TestQueryErrors(t *testing.T) {
	db := sharedDB(t)
	scratch := t.TempDir()
	tests := []struct {
		name    string
		query   string
		params  map[string]string
		wantErr error
		wantMsg string
	}{
		{name: "missing param", query: "SELECT * FROM tags WHERE pushed_at < :now - :days*86400",
			wantMsg: "parameter :days is not set (pass -p days=VALUE)"},
		{name: "two statements", query: "SELECT 1; DELETE FROM tags", wantErr: ErrMultipleStatements,
			wantMsg: `the query holds more than one statement: run one at a time (the second starts "DELETE FROM tags")`},
		{name: "empty", query: " ; -- nothing\n", wantErr: ErrEmptyQuery},
		{name: "param name not a letter", query: "SELECT :_x", params: map[string]string{"_x": "1"},
			wantMsg: "parameter :_x: a parameter name must start with a letter"},
		{name: "syntax error", query: "SELEC 1", wantMsg: "run query: "},
		{name: "unknown table", query: "SELECT * FROM nope", wantMsg: "no such table: nope"},
		{name: "insert", query: "INSERT INTO repos (name, listed) VALUES ('x', 1)", wantMsg: "run query: "},
		{name: "delete", query: "DELETE FROM tags", wantMsg: "run query: "},
		{name: "schema change", query: "DROP VIEW repo_usage", wantMsg: "run query: "},
		{name: "pragma write", query: "PRAGMA user_version = 7", wantMsg: "run query: "},
		{name: "attach", query: "ATTACH '" + filepath.Join(scratch, "attached.db") + "' AS x", wantMsg: "not authorized"},
		{name: "vacuum into", query: "VACUUM INTO '" + filepath.Join(scratch, "vacuumed.db") + "'", wantMsg: "run query: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runAll(db, tt.query, tt.params)
			if err == nil {
				t.Fatalf("Query(%q) error = nil, want an error", tt.query)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Query(%q) error = %v, want %v", tt.query, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Query(%q) error = %q, want it to contain %q", tt.query, err, tt.wantMsg)
			}
		})
	}
	// Nothing was written, and no file was created.
	if names := dirNames(t, scratch); len(names) != 0 {
		t.Errorf("files created by queries = %v, want none", names)
	}
	checkRows(t, db, "SELECT count(*) FROM tags", [][]any{{int64(4)}})
	checkRows(t, db, "SELECT count(*) FROM repos", [][]any{{int64(5)}})
}

// runAll runs a query and reads every row, returning the first error.
func runAll(db *DB, q string, params map[string]string) error {
	rs, err := db.Query(context.Background(), q, params)
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
	}
	return rs.Err()
}

func TestParamNotSetError(t *testing.T) {
	db := sharedDB(t)
	_, err := db.Query(t.Context(), "SELECT :a, :b", map[string]string{"a": "1"})
	var pe *ParamNotSetError
	if !errors.As(err, &pe) || pe.Name != "b" {
		t.Errorf("Query() error = %v, want a *ParamNotSetError for b", err)
	}
}

func TestRegexp(t *testing.T) {
	db := sharedDB(t)
	tests := []struct {
		name    string
		query   string
		want    [][]any
		wantErr string
	}{
		{name: "operator", query: `SELECT 'v1.2.3' REGEXP '^v[0-9]+\.[0-9]+'`, want: [][]any{{int64(1)}}},
		{name: "no match", query: `SELECT 'latest' REGEXP '^v'`, want: [][]any{{int64(0)}}},
		{name: "function form", query: `SELECT regexp('^la', 'latest')`, want: [][]any{{int64(1)}}},
		{name: "NULL text", query: `SELECT NULL REGEXP 'x', coalesce(NULL REGEXP 'x', 0)`, want: [][]any{{nil, int64(0)}}},
		{name: "NULL pattern", query: `SELECT 'x' REGEXP NULL`, want: [][]any{{nil}}},
		{name: "number as text", query: `SELECT 1234 REGEXP '^12'`, want: [][]any{{int64(1)}}},
		{name: "over a table", query: `SELECT name FROM tags WHERE name REGEXP '^[0-9]' ORDER BY name`, want: [][]any{{"1.0"}}},
		{name: "bad pattern", query: `SELECT 'x' REGEXP '(unclosed'`, wantErr: `bad regexp pattern "(unclosed"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantErr != "" {
				err := runAll(db, tt.query, nil)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Query(%q) error = %v, want it to contain %q", tt.query, err, tt.wantErr)
				}
				return
			}
			checkRows(t, db, tt.query, tt.want)
		})
	}
}

func TestRowsValues(t *testing.T) {
	db := sharedDB(t)
	rs, err := db.Query(t.Context(), "SELECT 1 AS i, 2.5 AS f, 'x' AS s, x'6869' AS b, NULL AS n", nil)
	if err != nil {
		t.Fatalf("Query() error = %v", err)
	}
	defer rs.Close()
	if got, want := rs.Columns(), []string{"i", "f", "s", "b", "n"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Columns() = %v, want %v", got, want)
	}
	if !rs.Next() {
		t.Fatalf("Next() = false, want a row (Err() = %v)", rs.Err())
	}
	if got, want := rs.Values(), []any{int64(1), 2.5, "x", "hi", nil}; !reflect.DeepEqual(got, want) {
		t.Errorf("Values() = %#v, want %#v", got, want)
	}
	if rs.Next() {
		t.Errorf("Next() = true after the only row")
	}
	if err := rs.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	scenarioDB, _ := buildFrom(t, scenario()...)
	// The version the embedded migrations reach, so that a new migration
	// does not break this test.
	known, err := knownVersion(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		setup   func(path string) error
		wantErr error
		wantMsg string
	}{
		{name: "missing", setup: func(string) error { return nil }, wantErr: ErrNoIndex,
			wantMsg: `open index "%s": no such file (run "regsql index --root DIR" first)`},
		{name: "text file", setup: func(p string) error { return os.WriteFile(p, []byte(strings.Repeat("not sqlite ", 200)), 0o644) },
			wantErr: ErrNotIndex, wantMsg: `open index "%s": not a regsql database (run "regsql index" first)`},
		{name: "empty file", setup: func(p string) error { return os.WriteFile(p, nil, 0o644) }, wantErr: ErrNotIndex},
		{name: "directory", setup: func(p string) error { return os.Mkdir(p, 0o755) }, wantErr: ErrNotIndex},
		{name: "other SQLite database", setup: func(p string) error { return writeSQLite(p, "CREATE TABLE repos (id INTEGER)") }, wantErr: ErrNotIndex},
		{name: "newer schema", setup: func(p string) error {
			return copyWithSQL(scenarioDB, p, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (99, 1)")
		}, wantErr: ErrSchemaNewer, wantMsg: fmt.Sprintf("(schema version 99, this one knows up to %d): upgrade regsql", known)},
		{name: "older schema", setup: func(p string) error { return migrateTo(p, 1) }, wantErr: ErrSchemaOlder,
			wantMsg: fmt.Sprintf(`(schema version 1, this one needs %d): rebuild it with "regsql index"`, known)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".db")
			if err := tt.setup(path); err != nil {
				t.Fatal(err)
			}
			db, err := Open(t.Context(), path)
			if err == nil {
				db.Close()
				t.Fatalf("Open() error = nil, want %v", tt.wantErr)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Open() error = %v, want %v", err, tt.wantErr)
			}
			if want := strings.ReplaceAll(tt.wantMsg, "%s", path); !strings.Contains(err.Error(), want) {
				t.Errorf("Open() error = %q, want it to contain %q", err, want)
			}
		})
	}
}

// copyWithSQL copies the database src to dst and runs stmt on the copy.
func copyWithSQL(src, dst, stmt string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return err
	}
	return writeSQLite(dst, stmt)
}

// migrateTo creates a database at path with the migrations up to version.
func migrateTo(path string, version int64) error {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations.FS, goose.WithDisableGlobalRegistry(true), goose.WithLogger(goose.NopLogger()))
	if err != nil {
		return err
	}
	_, err = p.UpTo(context.Background(), version)
	return err
}

// TestOpenIsReadOnly checks that the file is not touched by reading it.
func TestOpenIsReadOnly(t *testing.T) {
	path, _ := buildFrom(t, walker.Repository{Name: "app", Listed: true})
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db := openTest(t, path)
	checkRows(t, db, "SELECT name FROM repos", [][]any{{"app"}})
	if err := runAll(db, "UPDATE repos SET name = 'x'", nil); err == nil {
		t.Errorf("Query(UPDATE) error = nil, want a read-only error")
	}
	db.Close()
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Errorf("reading the index changed the file")
	}
	if _, err := os.Stat(path + "-journal"); err == nil {
		t.Errorf("reading the index left a journal file")
	}
}
