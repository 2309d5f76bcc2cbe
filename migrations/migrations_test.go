package migrations_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite"

	"github.com/regsql/regsql/migrations"
)

// migrated returns a database in t.TempDir() with every migration applied,
// and its goose provider.
func migrated(t *testing.T) (*sql.DB, *goose.Provider) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations.FS,
		goose.WithDisableGlobalRegistry(true), goose.WithLogger(goose.NopLogger()))
	if err != nil {
		t.Fatalf("NewProvider() error = %v", err)
	}
	if _, err := p.Up(context.Background()); err != nil {
		t.Fatalf("Up() error = %v", err)
	}
	return db, p
}

// objects returns the tables and views a user can see: everything but
// SQLite's own tables and goose's version table.
func objects(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_schema
		WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' AND name <> 'goose_db_version'
		ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

func columns(t *testing.T, db *sql.DB, object string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM pragma_table_info(?)`, object)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// TestEveryColumnHasDoc fails when a table, view or column has no line in
// schema_docs, or when schema_docs documents something that does not exist.
func TestEveryColumnHasDoc(t *testing.T) {
	db, _ := migrated(t)
	docs := map[[2]string]string{}
	rows, err := db.Query(`SELECT object, "column", doc FROM schema_docs`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var o, c, d string
		if err := rows.Scan(&o, &c, &d); err != nil {
			t.Fatal(err)
		}
		docs[[2]string{o, c}] = d
	}
	rows.Close()

	want := map[[2]string]bool{}
	for _, o := range objects(t, db) {
		want[[2]string{o, ""}] = true
		for _, c := range columns(t, db, o) {
			want[[2]string{o, c}] = true
		}
	}
	if len(want) < 50 {
		t.Fatalf("found only %d tables, views and columns: is the schema there?", len(want))
	}
	for k := range want {
		if docs[k] == "" {
			if k[1] == "" {
				t.Errorf("%s has no doc in schema_docs (add a row (%q, '', '...') in a migration)", k[0], k[0])
			} else {
				t.Errorf("column %s.%s has no doc in schema_docs (add a row (%q, %q, '...') in a migration)", k[0], k[1], k[0], k[1])
			}
		}
	}
	for k := range docs {
		if !want[k] {
			t.Errorf("schema_docs documents %s.%s, which does not exist", k[0], k[1])
		}
	}
}

// TestContractNames keeps the names users' saved queries rely on.
func TestContractNames(t *testing.T) {
	db, _ := migrated(t)
	tests := []struct {
		name    string
		object  string
		columns []string
	}{
		{name: "repos", object: "repos", columns: []string{"id", "name", "listed"}},
		{name: "tags", object: "tags", columns: []string{"repo_id", "name", "digest", "pushed_at"}},
		{name: "tag history", object: "tag_history", columns: []string{"repo_id", "tag", "digest", "linked_at"}},
		{name: "revisions", object: "revisions", columns: []string{"repo_id", "digest", "linked_at"}},
		{name: "manifests", object: "manifests", columns: []string{"digest", "media_type", "artifact_type", "config_digest", "created", "os", "arch", "subject_digest", "total_size", "body"}},
		{name: "blobs", object: "blobs", columns: []string{"digest", "size", "modified_at"}},
		{name: "refs", object: "refs", columns: []string{"manifest_digest", "kind", "digest", "media_type", "size", "platform_os", "platform_arch"}},
		{name: "layer links", object: "layer_links", columns: []string{"repo_id", "digest"}},
		{name: "uploads", object: "uploads", columns: []string{"repo_id", "uuid", "started_at"}},
		{name: "problems", object: "problems", columns: []string{"kind", "path", "message"}},
		{name: "scans", object: "scans", columns: []string{"root", "started_at", "finished_at", "version"}},
		{name: "tagged manifests", object: "tagged_manifests", columns: []string{"repo_id", "digest"}},
		{name: "untagged revisions", object: "untagged_revisions", columns: []string{"repo_id", "digest"}},
		{name: "repo blobs", object: "repo_blobs", columns: []string{"repo_id", "digest", "size"}},
		{name: "blob usage", object: "blob_usage", columns: []string{"digest", "size"}},
		{name: "repo usage", object: "repo_usage", columns: []string{"repo_id", "name", "total_bytes", "unique_bytes", "shared_bytes"}},
		{name: "schema docs", object: "schema_docs", columns: []string{"object", "column", "doc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := columns(t, db, tt.object)
			for _, c := range tt.columns {
				if !slices.Contains(got, c) {
					t.Errorf("columns of %s = %v, want %q among them", tt.object, got, c)
				}
			}
		})
	}
}

// TestDownUp checks that every migration can be rolled back and applied
// again, so that the Down sections stay true to the Up sections.
func TestDownUp(t *testing.T) {
	db, p := migrated(t)
	ctx := context.Background()
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("DownTo(0) error = %v", err)
	}
	if got := objects(t, db); len(got) != 0 {
		t.Errorf("objects after DownTo(0) = %v, want none", got)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("Up() after DownTo(0) error = %v", err)
	}
	if got := objects(t, db); !slices.Contains(got, "repo_usage") {
		t.Errorf("objects after Up() = %v, want repo_usage among them", got)
	}
}
