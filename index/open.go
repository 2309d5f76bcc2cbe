package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"

	"github.com/regsql/regsql/migrations"
)

// DB is an index database opened read-only.
type DB struct {
	db   *sqlx.DB
	path string
}

// Open opens the index at dbPath read-only: the file is opened with
// mode=ro and every connection runs with PRAGMA query_only, so no query can
// change it; ATTACH is refused, and x REGEXP 'pattern' matches Go regular
// expressions. It fails with ErrNoIndex when the file does not exist,
// ErrNotIndex when it is not a regsql database, and ErrSchemaNewer or
// ErrSchemaOlder when its schema is not the one this binary knows.
func Open(ctx context.Context, dbPath string) (*DB, error) {
	fi, err := os.Stat(dbPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open index %q: %w", dbPath, ErrNoIndex)
	}
	if err != nil {
		return nil, fmt.Errorf("open index %q: %w", dbPath, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("open index %q: %w", dbPath, ErrNotIndex)
	}
	known, err := knownVersion(migrations.FS)
	if err != nil {
		return nil, fmt.Errorf("open index %q: %w", dbPath, err)
	}
	rollBackInterrupted(ctx, dbPath)
	sdb, err := openRead(readOnlyDSN(dbPath))
	if err != nil {
		return nil, fmt.Errorf("open index %q: %w", dbPath, err)
	}
	version, err := schemaVersion(ctx, sdb)
	if err == nil {
		switch {
		case version > known:
			err = fmt.Errorf("%w (schema version %d, this one knows up to %d): upgrade regsql", ErrSchemaNewer, version, known)
		case version < known:
			err = fmt.Errorf("%w (schema version %d, this one needs %d): rebuild it with \"regsql index\"", ErrSchemaOlder, version, known)
		}
	}
	if err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open index %q: %w", dbPath, err)
	}
	return &DB{db: sqlx.NewDb(sdb, "sqlite"), path: dbPath}, nil
}

// Close closes the database.
func (db *DB) Close() error {
	if err := db.db.Close(); err != nil {
		return fmt.Errorf("close index %q: %w", db.path, err)
	}
	return nil
}

// SQLX returns the read-only connection pool, for packages that run their
// own queries on the index.
func (db *DB) SQLX() *sqlx.DB { return db.db }

// Path returns the file the database was opened from.
func (db *DB) Path() string { return db.path }

// readOnlyDSN opens path read-only twice over: SQLite's mode=ro refuses
// writes to the file, and query_only refuses any statement that would
// write, with a clear error. The busy timeout lets a read wait out the
// moment an ingest commits (regsql listen-notifications writes in place).
func readOnlyDSN(path string) string {
	q := url.Values{"mode": {"ro"}, "_pragma": {"busy_timeout(30000)", "query_only(1)"}}
	return fileURI(path) + "?" + q.Encode()
}

// sqliteNotADB is SQLITE_NOTADB: the file is not an SQLite database.
const sqliteNotADB = 26

// schemaVersion returns the goose version of a regsql database, or
// ErrNotIndex when db is not one.
func schemaVersion(ctx context.Context, db *sql.DB) (int64, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema
		WHERE type = 'table' AND name IN ('goose_db_version', 'repos')`).Scan(&n)
	if err != nil {
		var se *sqlite.Error
		if errors.As(err, &se) && se.Code()&0xff == sqliteNotADB {
			return 0, ErrNotIndex
		}
		return 0, fmt.Errorf("read schema: %w", err)
	}
	if n != 2 {
		return 0, ErrNotIndex
	}
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(version_id) FROM goose_db_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !v.Valid || v.Int64 <= 0 {
		return 0, ErrNotIndex
	}
	return v.Int64, nil
}

// knownVersion returns the highest migration version in fsys: the schema
// this binary writes and reads.
func knownVersion(fsys fs.FS) (int64, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return 0, fmt.Errorf("list migrations: %w", err)
	}
	var highest int64
	for _, n := range names {
		v, err := goose.NumericComponent(n)
		if err != nil {
			return 0, fmt.Errorf("read migration %q: %w", n, err)
		}
		if v > highest {
			highest = v
		}
	}
	if highest == 0 {
		return 0, errors.New("list migrations: none found")
	}
	return highest, nil
}
