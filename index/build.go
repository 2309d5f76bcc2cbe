package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/regsql/regsql/migrations"
	"github.com/regsql/regsql/walker"
)

// BuildOptions says where the records come from and how to walk.
type BuildOptions struct {
	Root     string // the storage read, as the user named it; stored in scans.root
	Driver   string // the storage driver's name; stored in scans.driver
	Version  string // regsql's version; stored in scans.version
	Workers  int    // parallel readers for the walker; 0 lets it choose
	Verify   bool   // read every link and list every link and blob directory (walker.Options.Verify)
	Progress func(walker.Progress)
	// Full reads the whole storage into a new database even when dbPath
	// holds a scan of the same storage that an incremental build could
	// start from.
	Full bool
	// Notice, if set, is told in a sentence whether the build is full or
	// incremental and why, before it reads the storage, and again if an
	// incremental build finds it has to read everything after all.
	Notice func(string)

	// snapshot has a full build leave a graph snapshot beside the index,
	// for the incremental builds that may follow.
	snapshot bool
	// changeMargin is how long before the earlier scan's start a change
	// counts as new to an incremental build; zero means
	// defaultChangeMargin. Tests shorten it.
	changeMargin time.Duration
}

// Summary counts what a build wrote.
type Summary struct {
	Repos      int
	Tags       int
	Revisions  int
	Manifests  int
	Blobs      int
	BlobBytes  int64
	LayerLinks int
	Uploads    int
	Problems   int
	Duration   time.Duration
	// Incremental is true when the build updated an earlier scan with what
	// changed since, rather than reading everything.
	Incremental bool
	// ReposRead counts the repositories read: all of them in a full build,
	// the new and changed ones in an incremental one.
	ReposRead int
}

// walkFunc feeds a walk's records to sink. Build's is walker.Walk over the
// storage; tests feed records directly.
type walkFunc func(ctx context.Context, sink walker.Sink) error

// Build walks st and writes the index database at dbPath.
//
// When dbPath already holds a finished scan of the same storage, read as a
// local directory (a walker.DirStorage), by this schema version and not a
// verifying one, Build is incremental (see Rescan): it reads again only
// what changed since that scan started and updates the database in one
// transaction, which readers never see half done. Otherwise, or with
// opts.Full, it reads everything into a new database in a temporary file
// next to dbPath and renames that over it only when complete. Either way
// an error or a cancelled ctx leaves any existing dbPath as it was and no
// temporary file behind. Build refuses to replace a file that is not a
// regsql database.
func Build(ctx context.Context, dbPath string, st walker.Storage, opts BuildOptions) (Summary, error) {
	sum, err := buildIncremental(ctx, dbPath, st, opts)
	var full fullBuild
	if !errors.As(err, &full) {
		return sum, err
	}
	if opts.Notice != nil {
		opts.Notice("full build: " + full.reason)
	}
	// Only an index of a local directory is ever updated in place.
	_, opts.snapshot = st.(*walker.DirStorage)
	walk := func(ctx context.Context, sink walker.Sink) error {
		_, err := walker.Walk(ctx, st, sink, walker.Options{Workers: opts.Workers, Verify: opts.Verify, Progress: opts.Progress})
		return err
	}
	return build(ctx, dbPath, migrations.FS, opts, walk)
}

func build(ctx context.Context, dbPath string, fsys fs.FS, opts BuildOptions, walk walkFunc) (Summary, error) {
	start := time.Now()
	if err := checkReplaceable(ctx, dbPath); err != nil {
		return Summary{}, err
	}
	f, err := os.CreateTemp(filepath.Dir(dbPath), "."+filepath.Base(dbPath)+".tmp-*")
	if err != nil {
		return Summary{}, fmt.Errorf("create index next to %q: %w", dbPath, err)
	}
	tmp := f.Name()
	if err := f.Close(); err != nil {
		removeDatabase(tmp)
		return Summary{}, fmt.Errorf("create index next to %q: %w", dbPath, err)
	}

	sum, err := fill(ctx, tmp, fsys, opts, walk, start)
	if err == nil {
		// A walk that stops early on cancellation may return nil: an index
		// of part of the storage must never replace a whole one.
		err = ctx.Err()
	}
	// The usage tables are copied last, under the old file's write lock,
	// held until the rename: an ingest writing meanwhile waits, then writes
	// to the new file.
	var lock *replaceLock
	if err == nil {
		lock, err = carryUsage(ctx, tmp, dbPath)
	}
	if err == nil {
		err = syncFile(tmp)
	}
	stamp, stamped := stampOf(tmp)
	if err == nil {
		// The old index's snapshot goes before the index does.
		_ = os.Remove(snapshotPath(dbPath))
		if err = os.Rename(tmp, dbPath); err != nil {
			err = fmt.Errorf("move index into place at %q: %w", dbPath, err)
		}
	}
	lock.release()
	if err != nil {
		removeDatabase(tmp)
		return Summary{}, err
	}
	syncDir(filepath.Dir(dbPath))
	keepSnapshot(snapshotPath(tmp), snapshotPath(dbPath), stamp, stamped)
	sum.Duration = time.Since(start)
	return sum, nil
}

// fill creates the schema in the empty database file at path and loads a
// walk into it, in one transaction.
func fill(ctx context.Context, path string, fsys fs.FS, opts BuildOptions, walk walkFunc, start time.Time) (sum Summary, err error) {
	db, err := sql.Open("sqlite", buildDSN(path))
	if err != nil {
		return Summary{}, fmt.Errorf("open new index %q: %w", path, err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close new index %q: %w", path, cerr)
		}
	}()
	// One connection: the pragmas below are per connection, and the file
	// is ours alone.
	db.SetMaxOpenConns(1)

	if err := migrate(ctx, db, fsys); err != nil {
		return Summary{}, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return Summary{}, fmt.Errorf("begin loading index: %w", err)
	}
	// After Commit this is a no-op; after an error the file is removed anyway.
	defer tx.Rollback()
	indexes, err := dropIndexes(ctx, tx)
	if err != nil {
		return Summary{}, err
	}

	w := newWriter(ctx, tx)
	w.graph = newGraphBuilder(sizeHint{})
	w.graph.revSeen = map[revKey]bool{}
	// The graph grows with the walk, on top of the walker's own buffers,
	// and at the default GOGC the heap grows to twice both: 320 MB
	// resident at the end of the large bench tree's walk, 257 MB at
	// walkPercent, for 0.3 s more of collection (gctrace).
	defer debug.SetGCPercent(debug.SetGCPercent(walkPercent))
	defer w.close() // on error: the statements die with the transaction anyway
	if err := walk(ctx, w); err != nil {
		return Summary{}, err
	}
	if err := w.flush(); err != nil {
		return Summary{}, err
	}
	// The walk's buffers are garbage now: returned to the system before
	// the index builds take SQLite's sorter memory, they make room for the
	// graph, which lives on until derive.
	debug.FreeOSMemory()
	if err := createIndexes(ctx, tx, indexes); err != nil {
		return Summary{}, err
	}
	go startWriteback(path) // it may block while it queues the writes
	if err := w.finish(tx); err != nil {
		return Summary{}, err
	}
	sum, err = counts(ctx, tx)
	if err != nil {
		return Summary{}, err
	}
	if err := deriveFull(ctx, tx, path, opts, w.graphOf); err != nil {
		return Summary{}, err
	}
	sum.ReposRead = sum.Repos
	if err := insertScan(ctx, tx, opts, start, sum); err != nil {
		return Summary{}, err
	}
	if err := w.close(); err != nil {
		return Summary{}, fmt.Errorf("close insert statements: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Summary{}, fmt.Errorf("commit index: %w", err)
	}
	// Statistics let the planner pick good join orders in users' queries.
	// analysis_limit has ANALYZE estimate each index from a sample of its
	// rows rather than read it whole: 1.45 s -> 0.3 s on the large tree,
	// with sqlite_stat1 within a few percent of the full scan's and every
	// built-in report as fast as before (measured side by side).
	if _, err := db.ExecContext(ctx, "PRAGMA analysis_limit = 1000; ANALYZE"); err != nil {
		return Summary{}, fmt.Errorf("analyze index: %w", err)
	}
	return sum, nil
}

// walkPercent is the garbage collector's GOGC while a full build walks.
const walkPercent = 50

// deriveFull derives the tables of a full build from its graph into the
// new index at path, and when an incremental build may update it, writes
// the graph's snapshot beside it, unstamped: build stamps it when the
// index is in place. graph completes the graph the writer assembled; it
// allocates the graph's lookups, so it runs under deriveGC too.
func deriveFull(ctx context.Context, tx *sql.Tx, path string, opts BuildOptions, graph func() *graph) error {
	defer deriveGC(fullDerivePercent)()
	g := graph()
	if err := derive(ctx, tx, g, opts.Driver, true, nil); err != nil {
		return err
	}
	if opts.snapshot {
		if err := writeSnapshot(snapshotPath(path), g); err != nil && opts.Notice != nil {
			opts.Notice(err.Error() + "; the next incremental build reads the whole index to derive its tables")
		}
	}
	return nil
}

// dropIndexes drops the secondary indexes the migrations created and
// returns their definitions, in creation order, for createIndexes: building
// an index once over loaded rows is much cheaper than updating it on every
// insert in digest (random) order. The tables' own keys stay.
func dropIndexes(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx,
		`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	var names, defs []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list indexes: %w", err)
		}
		names, defs = append(names, name), append(defs, def)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	for _, name := range names {
		if _, err := tx.ExecContext(ctx, `DROP INDEX "`+strings.ReplaceAll(name, `"`, `""`)+`"`); err != nil {
			return nil, fmt.Errorf("drop index %q: %w", name, err)
		}
	}
	return defs, nil
}

// createIndexes creates again the indexes dropIndexes dropped, from their
// own definitions, so that the schema is the migrations' exactly.
//
// Meanwhile SQLite's page cache is half its size: the sorter of each
// index takes as much memory as the cache (SQLite sizes it so), and the
// allocator keeps what both took until the build ends, derive included.
// On the large bench tree that takes 17 MB off the build's peak (288 ->
// 271 MB) and the index builds take no longer (2.3 s against 2.5–2.7 s).
func createIndexes(ctx context.Context, tx *sql.Tx, defs []string) error {
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d; PRAGMA threads = %d",
		buildCacheKiB/2, sorterThreads())); err != nil {
		return fmt.Errorf("create indexes: %w", err)
	}
	for _, def := range defs {
		if _, err := tx.ExecContext(ctx, def); err != nil {
			return fmt.Errorf("create index: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", buildCacheKiB)); err != nil {
		return fmt.Errorf("create indexes: %w", err)
	}
	return nil
}

// sorterThreads is how many threads, besides the build's own, SQLite's
// sorter may start to sort an index's rows while the build reads the
// next ones (PRAGMA threads): the walk is over, and the other cores idle.
func sorterThreads() int { return min(runtime.GOMAXPROCS(0)-1, 4) }

// buildCacheKiB is the page cache of a full build, in KiB.
const buildCacheKiB = 8192

// buildPageSize is the page size of the index file, in bytes (the file
// keeps it: an incremental build and every query use it too).
const buildPageSize = 16384

// buildDSN opens a throwaway file for a bulk load: no journal and no syncs
// (a failed build is deleted, never recovered), pages of 16 KiB and a page
// cache of 8 MiB. The secondary indexes are built after the load, so only
// the tables' own keys take inserts out of order. Sorts for those index
// builds spill to temporary files rather than memory, which keeps the
// peak resident set bounded whatever the size of the registry.
//
// A third of the database's work was SQLite writing pages out and reading
// them back, a system call each: pages four times larger are a quarter of
// the calls for the same bytes. With 4 KiB pages the cache was 32 MiB;
// with 16 KiB pages 8 MiB does as well, and the peak is lower. On the large
// bench tree (BenchmarkBuildTree, the database side alone, alternating
// pairs) 14.6 and 13.3 s took 9.9 and 10.9 s; whole builds, which share
// two cores with the walk, took a median of 17.6 s against 18.3 s (five
// pairs), at 246 MB rather than 265 MB, and the file is 799 MB rather than
// 848 MB. A 16 MiB cache of 16 KiB pages took 286 MB, 32 MiB 366 MB.
func buildDSN(path string) string {
	q := url.Values{"_pragma": {
		"journal_mode(OFF)",
		"synchronous(OFF)",
		fmt.Sprintf("page_size(%d)", buildPageSize),
		fmt.Sprintf("cache_size(-%d)", buildCacheKiB),
		"locking_mode(EXCLUSIVE)",
	}}
	return fileURI(path) + "?" + q.Encode()
}

// fileURI returns path as an SQLite file: URI, escaped so that a name with
// '?', '#' or '%' still names the file.
func fileURI(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	p := filepath.ToSlash(path)
	if len(p) == 0 || p[0] != '/' {
		p = "/" + p // a Windows drive letter: file:///C:/...
	}
	return "file://" + (&url.URL{Path: p}).EscapedPath()
}

// migrate applies every migration in fsys with goose.
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS) error {
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys,
		goose.WithDisableGlobalRegistry(true), goose.WithLogger(goose.NopLogger()))
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// counts reads the sizes of the tables just loaded.
func counts(ctx context.Context, tx *sql.Tx) (Summary, error) {
	var s Summary
	err := tx.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM repos), (SELECT count(*) FROM tags),
		(SELECT count(*) FROM revisions), (SELECT count(*) FROM manifests),
		(SELECT count(*) FROM blobs), (SELECT coalesce(sum(size), 0) FROM blobs),
		(SELECT count(*) FROM layer_links), (SELECT count(*) FROM uploads),
		(SELECT count(*) FROM problems)`).Scan(
		&s.Repos, &s.Tags, &s.Revisions, &s.Manifests, &s.Blobs, &s.BlobBytes,
		&s.LayerLinks, &s.Uploads, &s.Problems)
	if err != nil {
		return Summary{}, fmt.Errorf("count rows: %w", err)
	}
	return s, nil
}

func insertScan(ctx context.Context, tx *sql.Tx, opts BuildOptions, start time.Time, s Summary) error {
	mode := "full"
	if s.Incremental {
		mode = "incremental"
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO scans
		(root, driver, started_at, finished_at, repos, tags, revisions, manifests,
		 blobs, blob_bytes, layer_links, uploads, problems, version,
		 mode, verify, started_ns, repos_read)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		opts.Root, opts.Driver, start.Unix(), time.Now().Unix(), s.Repos, s.Tags, s.Revisions,
		s.Manifests, s.Blobs, s.BlobBytes, s.LayerLinks, s.Uploads, s.Problems, opts.Version,
		mode, opts.Verify, start.UnixNano(), s.ReposRead)
	if err != nil {
		return fmt.Errorf("record scan: %w", err)
	}
	return nil
}

// checkReplaceable refuses to build over a file that is not a regsql
// database: a mistyped --db must not destroy someone's file. A missing or
// empty file, or an index of any schema version, may be replaced.
func checkReplaceable(ctx context.Context, dbPath string) error {
	fi, err := os.Stat(dbPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("build index %q: %w", dbPath, err)
	}
	if fi.IsDir() || !fi.Mode().IsRegular() {
		return fmt.Errorf("build index %q: %w", dbPath, ErrWouldReplace)
	}
	if fi.Size() == 0 {
		return nil
	}
	rollBackInterrupted(ctx, dbPath)
	db, err := openRead(readOnlyDSN(dbPath))
	if err != nil {
		return fmt.Errorf("build index %q: %w", dbPath, err)
	}
	defer db.Close()
	if _, err := schemaVersion(ctx, db); err != nil {
		if errors.Is(err, ErrNotIndex) {
			return fmt.Errorf("build index %q: %w", dbPath, ErrWouldReplace)
		}
		return fmt.Errorf("build index %q: %w", dbPath, err)
	}
	return nil
}

// syncFile flushes the finished database to disk before the rename makes it
// the index: the build ran with synchronous=OFF.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sync new index: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync new index: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sync new index: %w", err)
	}
	return nil
}

// syncDir makes a rename in dir durable. Some systems cannot sync a
// directory; the rename has happened either way, so errors are ignored.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// removeDatabase removes a database file and any side file SQLite may have
// left beside it.
func removeDatabase(path string) {
	for _, p := range []string{path, path + "-journal", path + "-wal", path + "-shm", snapshotPath(path)} {
		_ = os.Remove(p)
	}
}
