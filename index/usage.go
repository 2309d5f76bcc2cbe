package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/regsql/regsql/usage"
)

// UsageSource names what a UsageWriter stores events from: a row of
// usage_sources.
type UsageSource struct {
	Name string // the file as named, "-", or a listener's address
	Kind string // "file" or "listener"
}

// UsageOptions tunes a UsageWriter.
type UsageOptions struct {
	// Remote says what is kept of a client's address; "" hashes it.
	Remote usage.RemoteMode
	// BusyTimeout is how long a write waits for another writer, or for a
	// re-index moving the database into place; 0 means 5 minutes.
	BusyTimeout time.Duration
	// Now is the clock for usage_sources times; nil means time.Now.
	Now func() time.Time
}

// UsageProgress is how far a source has been read: the totals so far, which
// each Write stores in the source's usage_sources row.
type UsageProgress struct {
	Lines, Skipped, Malformed int64
	// CoveredFrom and CoveredTo are the span the source covers so far;
	// zero when unknown.
	CoveredFrom, CoveredTo time.Time
}

// UsageCounts is what a UsageWriter stored, in total.
type UsageCounts struct {
	Pulls      int64 // rows added to pull_events
	BlobPulls  int64 // blob GETs folded into blob_pulls
	Pushes     int64 // rows added to push_events
	Duplicates int64 // events already stored
}

// UsageWriter appends usage events to an index in place, one transaction a
// Write. Each Write opens the file anew and makes sure it still is the file
// at the path before writing, so that a re-index renaming a new database into
// place, which copies the usage tables from the old one while holding its
// write lock, never loses a write to the replaced file.
type UsageWriter struct {
	path     string
	src      UsageSource
	opts     UsageOptions
	id       int64 // usage_sources.id; 0 until the first Write
	started  time.Time
	counts   UsageCounts
	progress UsageProgress
}

// NewUsageWriter returns a writer that stores events from src into the
// index at dbPath. The index must exist ("regsql index" first) and have the
// schema this binary knows: Open's errors say what to do otherwise.
func NewUsageWriter(ctx context.Context, dbPath string, src UsageSource, opts UsageOptions) (*UsageWriter, error) {
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Remote == "" {
		opts.Remote = usage.RemoteHash
	}
	db, err := Open(ctx, dbPath)
	if err != nil {
		return nil, err
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	return &UsageWriter{path: dbPath, src: src, opts: opts, started: opts.Now()}, nil
}

// Counts returns what the writer stored so far.
func (w *UsageWriter) Counts() UsageCounts { return w.counts }

// maxReplacedRetries bounds how often a Write starts again because a
// re-index replaced the file under it; each re-index takes far longer than
// one retry, so a few are plenty.
const maxReplacedRetries = 5

// Write stores events and the source's progress in one transaction.
// Pulls and pushes already stored (same event key) are counted as
// duplicates; a duplicate that names a digest fills in one the stored row
// lacked (a log line by tag, then the notification of the same request).
func (w *UsageWriter) Write(ctx context.Context, events []usage.Event, p UsageProgress) error {
	w.progress = p
	for range maxReplacedRetries {
		counts, err := w.write(ctx, events)
		if errors.Is(err, errReplaced) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store usage in %q: %w", w.path, err)
		}
		w.counts = counts
		return nil
	}
	return fmt.Errorf("store usage in %q: the file was replaced %d times while writing", w.path, maxReplacedRetries)
}

// Finish records that the source was read to its end.
func (w *UsageWriter) Finish(ctx context.Context, p UsageProgress) error {
	if err := w.Write(ctx, nil, p); err != nil {
		return err
	}
	return w.finish(ctx)
}

func (w *UsageWriter) finish(ctx context.Context) error {
	return w.withFile(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE usage_sources SET finished_at = ? WHERE id = ?`, w.opts.Now().Unix(), w.id)
		return err
	})
}

// errReplaced says the file at the path changed between opening it and
// taking its write lock.
var errReplaced = errors.New("database replaced while opening it")

// withFile runs fn in a write transaction on the file at w.path, after
// making sure that file is still the one at the path.
func (w *UsageWriter) withFile(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	before, err := os.Stat(w.path)
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", writeDSN(w.path, w.opts.BusyTimeout))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: takes the write lock now
	if err != nil {
		return fmt.Errorf("take write lock: %w", err)
	}
	defer tx.Rollback()
	// A re-index renames its new file over the path while it holds the old
	// file's write lock; once we hold that lock, the path must still name
	// the file we opened, or what we write would go to a file nobody reads.
	after, err := os.Stat(w.path)
	if err != nil {
		return err
	}
	if !os.SameFile(before, after) {
		return errReplaced
	}
	stamp, stamped := stampOf(w.path)
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// Usage rows are not in the graph: its snapshot still holds.
	if stamped {
		restampSnapshot(w.path, stamp)
	}
	return nil
}

func (w *UsageWriter) write(ctx context.Context, events []usage.Event) (UsageCounts, error) {
	counts := w.counts
	err := w.withFile(ctx, func(tx *sql.Tx) error {
		counts = w.counts
		if err := w.upsertSource(ctx, tx); err != nil {
			return err
		}
		pull, err := tx.PrepareContext(ctx, `INSERT INTO pull_events
			(event_key, repo, reference, digest, pulled_at, method, status, user_agent, remote, user, source_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		defer pull.Close()
		fill, err := tx.PrepareContext(ctx, `UPDATE pull_events SET digest = ? WHERE event_key = ? AND digest IS NULL`)
		if err != nil {
			return err
		}
		defer fill.Close()
		push, err := tx.PrepareContext(ctx, `INSERT INTO push_events
			(event_key, kind, repo, reference, tag, digest, media_type, size, from_repo, happened_at,
			 method, user_agent, remote, user, source_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		defer push.Close()
		fillPush, err := tx.PrepareContext(ctx, `UPDATE push_events
			SET digest = coalesce(digest, ?), media_type = coalesce(media_type, ?), size = coalesce(size, ?)
			WHERE event_key = ?`)
		if err != nil {
			return err
		}
		defer fillPush.Close()

		// Blob GETs fold into one row per (repository, blob) here first: a
		// pull downloads every layer, and the table keeps only the times.
		type blobKey struct{ repo, digest string }
		blobs := map[blobKey][2]int64{}
		for _, ev := range events {
			at := ev.Time.Unix()
			switch {
			case ev.Kind == usage.BlobPull:
				counts.BlobPulls++
				k := blobKey{ev.Repo, ev.Digest}
				span, ok := blobs[k]
				if !ok {
					span = [2]int64{at, at}
				}
				blobs[k] = [2]int64{min(span[0], at), max(span[1], at)}
			case ev.Kind == usage.ManifestPull:
				res, err := pull.ExecContext(ctx, ev.Key, ev.Repo, ev.Reference, nullString(ev.Digest), at,
					ev.Method, nullInt(int64(ev.Status)), nullString(ev.UserAgent),
					nullString(w.opts.Remote.Apply(ev.RemoteAddr)), nullString(ev.User), w.id)
				if err != nil {
					return fmt.Errorf("insert pull: %w", err)
				}
				if n, _ := res.RowsAffected(); n == 1 {
					counts.Pulls++
					continue
				}
				counts.Duplicates++
				if ev.Digest != "" {
					if _, err := fill.ExecContext(ctx, ev.Digest, ev.Key); err != nil {
						return fmt.Errorf("update pull: %w", err)
					}
				}
			default:
				res, err := push.ExecContext(ctx, ev.Key, string(ev.Kind), ev.Repo, nullString(ev.Reference),
					nullString(ev.Tag), nullString(ev.Digest), nullString(ev.MediaType), nullInt(ev.Size),
					nullString(ev.From), at, nullString(ev.Method), nullString(ev.UserAgent),
					nullString(w.opts.Remote.Apply(ev.RemoteAddr)), nullString(ev.User), w.id)
				if err != nil {
					return fmt.Errorf("insert push: %w", err)
				}
				if n, _ := res.RowsAffected(); n == 1 {
					counts.Pushes++
					continue
				}
				counts.Duplicates++
				if _, err := fillPush.ExecContext(ctx, nullString(ev.Digest), nullString(ev.MediaType), nullInt(ev.Size), ev.Key); err != nil {
					return fmt.Errorf("update push: %w", err)
				}
			}
		}
		blob, err := tx.PrepareContext(ctx, `INSERT INTO blob_pulls (repo, digest, first_pulled_at, last_pulled_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (repo, digest) DO UPDATE SET
				first_pulled_at = min(first_pulled_at, excluded.first_pulled_at),
				last_pulled_at = max(last_pulled_at, excluded.last_pulled_at)`)
		if err != nil {
			return err
		}
		defer blob.Close()
		for k, span := range blobs {
			if _, err := blob.ExecContext(ctx, k.repo, k.digest, span[0], span[1]); err != nil {
				return fmt.Errorf("insert blob pull: %w", err)
			}
		}
		return w.upsertSourceCounts(ctx, tx, counts)
	})
	return counts, err
}

// upsertSource creates the source's usage_sources row on the first write,
// and again should the row be gone (the database was built anew without the
// old one to copy from).
func (w *UsageWriter) upsertSource(ctx context.Context, tx *sql.Tx) error {
	if w.id == 0 {
		err := tx.QueryRowContext(ctx, `INSERT INTO usage_sources (name, kind, started_at) VALUES (?, ?, ?) RETURNING id`,
			w.src.Name, w.src.Kind, w.started.Unix()).Scan(&w.id)
		if err != nil {
			return fmt.Errorf("record usage source: %w", err)
		}
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO usage_sources (id, name, kind, started_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, w.id, w.src.Name, w.src.Kind, w.started.Unix())
	if err != nil {
		return fmt.Errorf("record usage source: %w", err)
	}
	return nil
}

func (w *UsageWriter) upsertSourceCounts(ctx context.Context, tx *sql.Tx, c UsageCounts) error {
	p := w.progress
	_, err := tx.ExecContext(ctx, `UPDATE usage_sources SET
		covered_from = ?, covered_to = ?, lines = ?, pulls = ?, blob_pulls = ?, pushes = ?,
		duplicates = ?, skipped = ?, malformed = ? WHERE id = ?`,
		nullTime(p.CoveredFrom), nullTime(p.CoveredTo), p.Lines, c.Pulls, c.BlobPulls, c.Pushes,
		c.Duplicates, p.Skipped, p.Malformed, w.id)
	if err != nil {
		return fmt.Errorf("record usage source: %w", err)
	}
	return nil
}

// writeDSN opens the index for an in-place write: BEGIN IMMEDIATE, so that a
// transaction takes the write lock before it reads, and a busy timeout long
// enough to wait out a re-index moving its new file into place.
func writeDSN(path string, busy time.Duration) string {
	q := url.Values{
		"_pragma": {fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds())},
		"_txlock": {"immediate"},
	}
	return fileURI(path) + "?" + q.Encode()
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func nullInt(n int64) sql.NullInt64 { return sql.NullInt64{Int64: n, Valid: n != 0} }

func nullTime(t time.Time) sql.NullInt64 {
	return sql.NullInt64{Int64: t.Unix(), Valid: !t.IsZero()}
}
