package index

import (
	"context"
	"database/sql"
	"net/url"
	"os"
)

// rollBackInterrupted restores the index at path when an update was cut
// short (the process killed, the machine down) and left a hot rollback
// journal beside it: SQLite rolls it back for the first connection that
// may write, but a read-only one fails ("attempt to write a readonly
// database") until then. Opening the file for writing and reading it
// rolls the journal back; a journal that belongs to an update still
// running is not hot, and SQLite leaves it alone. Without write access
// nothing happens here, and the read-only open reports the error.
func rollBackInterrupted(ctx context.Context, path string) {
	if _, err := os.Stat(path + "-journal"); err != nil {
		return
	}
	q := url.Values{"mode": {"rw"}, "_pragma": {"busy_timeout(10000)"}}
	db, err := sql.Open("sqlite", fileURI(path)+"?"+q.Encode())
	if err != nil {
		return
	}
	defer db.Close()
	var n int
	_ = db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&n)
}
