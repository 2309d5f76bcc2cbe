package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"
)

// usageTables are what a new index copies from the one it replaces: what
// the registry's logs and notifications said, which storage cannot say
// again. Their rows name repositories by name, never by repos.id, so they
// copy as they are.
var usageTables = []string{"usage_sources", "pull_events", "blob_pulls", "push_events"}

// replaceLockTimeout is how long a build waits for an ingest's write to end
// before it copies the usage tables; ingest writes are short transactions.
const replaceLockTimeout = 5 * time.Minute

// replaceLock holds the write lock of the index a build is about to
// replace, from before its usage tables are copied until the new file is
// renamed over it: a usage write waits for it, then finds the path names
// another file and writes there (UsageWriter), so nothing written in
// between is lost.
type replaceLock struct {
	db *sql.DB
	tx *sql.Tx
}

// lockForReplace takes the write lock of the index at path. It returns a
// nil lock when there is no file, or when the file cannot be written (then
// no one can write usage into it either).
func lockForReplace(ctx context.Context, path string) (*replaceLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("lock index %q: %w", path, err)
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("lock index %q: %w", path, err)
	}
	if fi.Size() == 0 {
		return nil, nil
	}
	db, err := sql.Open("sqlite", writeDSN(path, replaceLockTimeout))
	if err != nil {
		return nil, fmt.Errorf("lock index %q: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("lock index %q: %w", path, err)
	}
	return &replaceLock{db: db, tx: tx}, nil
}

// release lets writers at the replaced file go on; they will see it is no
// longer at the path. A nil lock is a no-op.
func (l *replaceLock) release() {
	if l == nil {
		return
	}
	_ = l.tx.Rollback()
	_ = l.db.Close()
}

// carryUsage locks the index at oldPath and copies its usage tables into
// the new index at newPath, returning the lock for the caller to release
// once the new file is in place.
func carryUsage(ctx context.Context, newPath, oldPath string) (*replaceLock, error) {
	lock, err := lockForReplace(ctx, oldPath)
	if err != nil || lock == nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", buildDSN(newPath))
	if err != nil {
		lock.release()
		return nil, fmt.Errorf("open new index %q: %w", newPath, err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		lock.release()
		return nil, fmt.Errorf("open new index %q: %w", newPath, err)
	}
	defer conn.Close()
	if err := CopyUsage(ctx, conn, oldPath); err != nil {
		lock.release()
		return nil, err
	}
	return lock, nil
}

// CopyUsage copies the usage tables of the index at from into the database
// conn is on, column by column name, so that an index of an older or newer
// schema gives what it has. Tables from lacks are skipped. It is the one
// step a rebuild needs to keep what ingestion stored; an update in place
// keeps the tables as they are and needs none.
func CopyUsage(ctx context.Context, conn *sql.Conn, from string) (err error) {
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS prev`, readOnlyURI(from)); err != nil {
		return fmt.Errorf("open index %q to copy its usage: %w", from, err)
	}
	defer func() {
		if _, derr := conn.ExecContext(context.WithoutCancel(ctx), `DETACH DATABASE prev`); derr != nil && err == nil {
			err = fmt.Errorf("close index %q: %w", from, derr)
		}
	}()
	for _, table := range usageTables {
		have, err := tableColumns(ctx, conn, "prev", table)
		if err != nil {
			return fmt.Errorf("copy %s from %q: %w", table, from, err)
		}
		want, err := tableColumns(ctx, conn, "main", table)
		if err != nil {
			return fmt.Errorf("copy %s from %q: %w", table, from, err)
		}
		var cols []string
		for _, c := range want {
			if slices.Contains(have, c) {
				cols = append(cols, `"`+c+`"`)
			}
		}
		if len(cols) == 0 {
			continue
		}
		list := strings.Join(cols, ", ")
		q := fmt.Sprintf(`INSERT INTO main.%s (%s) SELECT %s FROM prev.%s`, table, list, list, table)
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("copy %s from %q: %w", table, from, err)
		}
	}
	return nil
}

// tableColumns lists the columns of schema.table; none when it does not
// exist.
func tableColumns(ctx context.Context, conn *sql.Conn, schema, table string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, `SELECT name FROM pragma_table_info(?, ?)`, table, schema)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// readOnlyURI names path as an SQLite URI opened read-only, for ATTACH.
func readOnlyURI(path string) string { return fileURI(path) + "?mode=ro" }
