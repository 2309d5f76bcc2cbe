package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Object is a table or view users query, with its doc from schema_docs.
type Object struct {
	Name    string
	Type    string // "table" or "view"
	Doc     string
	Columns []Column
}

// Column is a column of an Object.
type Column struct {
	Name string
	Type string // declared type; "" for a computed column of a view
	Doc  string
}

// Schema returns the tables, then the views, each in the order the
// migrations create them. goose's version table and schema_docs itself are
// left out: they describe the database, not the registry.
func (db *DB) Schema(ctx context.Context) ([]Object, error) {
	docs := map[[2]string]string{}
	rows, err := db.db.QueryContext(ctx, `SELECT object, "column", doc FROM schema_docs`)
	if err != nil {
		return nil, fmt.Errorf("read schema docs: %w", err)
	}
	for rows.Next() {
		var o, c, d string
		if err := rows.Scan(&o, &c, &d); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read schema docs: %w", err)
		}
		docs[[2]string{o, c}] = d
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema docs: %w", err)
	}

	var objs []Object
	err = db.db.SelectContext(ctx, &objs, `SELECT name AS name, type AS type FROM sqlite_schema
		WHERE type IN ('table', 'view')
		  AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
		  AND name NOT IN ('goose_db_version', 'schema_docs')
		ORDER BY type = 'view', rowid`)
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	for i := range objs {
		o := &objs[i]
		o.Doc = docs[[2]string{o.Name, ""}]
		if err := db.db.SelectContext(ctx, &o.Columns,
			`SELECT name AS name, type AS type FROM pragma_table_info(?) ORDER BY cid`, o.Name); err != nil {
			return nil, fmt.Errorf("read columns of %s: %w", o.Name, err)
		}
		for j := range o.Columns {
			o.Columns[j].Doc = docs[[2]string{o.Name, o.Columns[j].Name}]
		}
	}
	return objs, nil
}

// ScanInfo is the scans row of the walk that built the index.
type ScanInfo struct {
	Root       string
	Driver     string
	StartedAt  time.Time
	FinishedAt time.Time
	Repos      int
	Tags       int
	Revisions  int
	Manifests  int
	Blobs      int
	BlobBytes  int64
	LayerLinks int
	Uploads    int
	Problems   int
	Version    string
}

// Scan returns the latest scans row.
func (db *DB) Scan(ctx context.Context) (ScanInfo, error) {
	var (
		s                 ScanInfo
		started, finished int64
	)
	err := db.db.QueryRowContext(ctx, `SELECT root, driver, started_at, finished_at, repos, tags,
		revisions, manifests, blobs, blob_bytes, layer_links, uploads, problems, version
		FROM scans ORDER BY id DESC LIMIT 1`).Scan(
		&s.Root, &s.Driver, &started, &finished, &s.Repos, &s.Tags, &s.Revisions, &s.Manifests,
		&s.Blobs, &s.BlobBytes, &s.LayerLinks, &s.Uploads, &s.Problems, &s.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return ScanInfo{}, fmt.Errorf("read scan of %q: no scan recorded", db.path)
	}
	if err != nil {
		return ScanInfo{}, fmt.Errorf("read scan of %q: %w", db.path, err)
	}
	s.StartedAt, s.FinishedAt = time.Unix(started, 0).UTC(), time.Unix(finished, 0).UTC()
	return s, nil
}
