package index

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/migrations"
	"github.com/regsql/regsql/walker"
)

// defaultChangeMargin is how long before the earlier scan's start a change
// still counts as new to an incremental build. A local file system stamps
// a change with a clock a few milliseconds behind the one that timed the
// scan, some stamp whole seconds (or two), and a network file system
// stamps with the server's clock: a minute covers all of these, and costs
// only reading again what changed in the minute before the earlier scan.
const defaultChangeMargin = time.Minute

// fullBuild is what buildIncremental returns when only a full build will
// do, and why.
type fullBuild struct{ reason string }

func (f fullBuild) Error() string { return "full build: " + f.reason }

// manifestProblemKinds are the problems a manifest's own body gives, at
// its blob's data path; reading the manifest again gives them again.
var manifestProblemKinds = []string{
	string(walker.ProblemManifestInvalid), string(walker.ProblemManifestSchema1),
	string(walker.ProblemManifestUnknown), string(walker.ProblemNonSHA256),
}

// buildIncremental updates dbPath with what changed in st since its latest
// scan, or returns a fullBuild error saying why it cannot.
func buildIncremental(ctx context.Context, dbPath string, st walker.Storage, opts BuildOptions) (Summary, error) {
	switch {
	case opts.Full:
		return Summary{}, fullBuild{"asked for"}
	case opts.Verify:
		return Summary{}, fullBuild{"verifying reads everything"}
	}
	ds, ok := st.(*walker.DirStorage)
	if !ok {
		return Summary{}, fullBuild{"only storage read as a local directory (--root) tells what changed"}
	}
	fi, err := os.Stat(dbPath)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Mode().IsRegular() && fi.Size() == 0) {
		return Summary{}, fullBuild{fmt.Sprintf("no index at %q yet", dbPath)}
	}
	if err != nil || !fi.Mode().IsRegular() {
		return Summary{}, fullBuild{fmt.Sprintf("%q is not an index", dbPath)} // the full build says what is wrong
	}

	start := time.Now()
	db, err := sql.Open("sqlite", updateDSN(dbPath))
	if err != nil {
		return Summary{}, fmt.Errorf("open index %q: %w", dbPath, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if reason, err := checkSchema(ctx, db); err != nil || reason != "" {
		if err != nil {
			return Summary{}, fullBuild{fmt.Sprintf("%q is not an index this regsql can update", dbPath)}
		}
		return Summary{}, fullBuild{reason}
	}
	// An immediate transaction (see updateDSN): no other writer can come
	// between the scan read below and the commit.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return Summary{}, fmt.Errorf("begin updating index %q: %w", dbPath, err)
	}
	defer tx.Rollback()
	u := &updater{ctx: ctx, tx: tx, opts: opts, dbPath: dbPath}
	// The write lock is ours (an immediate transaction): the file's stamp
	// is the state this update starts from until it commits.
	u.stamp, u.stamped = stampOf(dbPath)
	defer u.discardSnapshot()
	earlier, reason, err := u.earlierScan(ds)
	if err != nil {
		return Summary{}, err
	}
	if reason != "" {
		return Summary{}, fullBuild{reason}
	}
	if opts.Notice != nil {
		opts.Notice(fmt.Sprintf("incremental: reading only what changed since the scan that started %s",
			time.Unix(0, earlier).Local().Format("2006-01-02 15:04:05")))
	}
	sum, err := u.run(ds, earlier)
	if errors.Is(err, walker.ErrCannotRescan) {
		return Summary{}, fullBuild{err.Error()}
	}
	if err != nil {
		return Summary{}, err
	}
	if err := ctx.Err(); err != nil {
		return Summary{}, err
	}
	if err := insertScan(ctx, tx, opts, start, sum); err != nil {
		return Summary{}, err
	}
	if err := tx.Commit(); err != nil {
		return Summary{}, fmt.Errorf("commit index update: %w", err)
	}
	u.keepSnapshot()
	sum.Duration = time.Since(start)
	return sum, nil
}

// updateDSN opens an index to update in place: the default rollback
// journal, synced, so that a commit is all or nothing and an interrupted
// run leaves the old index; an immediate transaction, which readers do not
// block until the commit; and time for a reader to finish before it.
func updateDSN(path string) string {
	q := url.Values{
		"mode":    {"rw"},
		"_txlock": {"immediate"},
		"_pragma": {
			"busy_timeout(60000)",
			"synchronous(FULL)",
			"cache_size(-32768)",
		},
	}
	return fileURI(path) + "?" + q.Encode()
}

// checkSchema returns why db cannot be updated in place by this regsql, or
// "" when it can.
func checkSchema(ctx context.Context, db *sql.DB) (string, error) {
	version, err := schemaVersion(ctx, db)
	if err != nil {
		return "", err
	}
	known, err := knownVersion(migrations.FS)
	if err != nil {
		return "", err
	}
	if version != known {
		return fmt.Sprintf("the index has schema version %d, this regsql writes %d", version, known), nil
	}
	// Migrations numbered out of order (two branches adding one each)
	// can leave the highest version applied and one below it not.
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return "", fmt.Errorf("list migrations: %w", err)
	}
	var applied int
	err = db.QueryRowContext(ctx, `SELECT count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0 AND is_applied`).Scan(&applied)
	if err != nil {
		return "", fmt.Errorf("read schema version: %w", err)
	}
	if applied != len(names) {
		return fmt.Sprintf("the index lacks some of this regsql's %d schema migrations", len(names)), nil
	}
	return "", nil
}

// updater is one incremental build, in one transaction.
type updater struct {
	ctx  context.Context
	tx   *sql.Tx
	opts BuildOptions
	// counts starts as the latest scan's and follows every row deleted
	// and inserted: counting whole tables again costs more than all the
	// rest of an update of a small change.
	counts Summary

	// The graph snapshot: the index file's stamp when the update began
	// (when it has one), and the new snapshot derive wrote, not yet in
	// place. derived says derive ran.
	dbPath   string
	stamp    dbStamp
	stamped  bool
	pending  string
	derived  bool
	snapshot func() snapshotRead // waits for the graph read from the snapshot, once readSnapshot started
	// shards are the snapshot's blobs by shard directory, for the Rescan's
	// Baseline (see run).
	shards func() *blobShards
}

func (u *updater) exec(what, q string, args ...any) (int64, error) {
	res, err := u.tx.ExecContext(u.ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return n, nil
}

// earlierScan returns when the latest scan started (unix nanoseconds), or
// why an incremental build cannot start from it.
func (u *updater) earlierScan(ds *walker.DirStorage) (int64, string, error) {
	var (
		root, driver string
		startedNS    sql.NullInt64
		verify       bool
		c            = &u.counts
	)
	err := u.tx.QueryRowContext(u.ctx, `SELECT root, driver, started_ns, verify,
		repos, tags, revisions, manifests, blobs, blob_bytes, layer_links, uploads, problems
		FROM scans ORDER BY id DESC LIMIT 1`).
		Scan(&root, &driver, &startedNS, &verify,
			&c.Repos, &c.Tags, &c.Revisions, &c.Manifests, &c.Blobs, &c.BlobBytes, &c.LayerLinks, &c.Uploads, &c.Problems)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "the index records no finished scan", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("read the index's latest scan: %w", err)
	}
	switch {
	case driver != u.opts.Driver || !sameStorage(root, ds):
		return 0, fmt.Sprintf("the index's latest scan is not of this storage, or names it by a relative path (%s)", root), nil
	case verify:
		return 0, "the latest scan was a verifying one", nil
	case !startedNS.Valid:
		return 0, "the latest scan has no start time", nil
	}
	var outside int
	err = u.tx.QueryRowContext(u.ctx, `SELECT count(*) FROM problems
		WHERE repo_id IS NULL AND (kind = 'unreadable' OR path = 'repositories' OR path LIKE 'repositories/%')`).Scan(&outside)
	if err != nil {
		return 0, "", fmt.Errorf("read the index's problems: %w", err)
	}
	if outside > 0 {
		return 0, "the latest scan could not read all of blobs/ or of the repositories/ tree", nil
	}
	return startedNS.Int64, "", nil
}

// sameStorage says whether the root an earlier scan recorded names the
// storage ds: an absolute path to the same directory. A relative one was
// relative to a working directory the index does not record.
func sameStorage(earlier string, ds *walker.DirStorage) bool {
	if !filepath.IsAbs(earlier) {
		return false
	}
	was, err := walker.OpenRoot(earlier)
	if err != nil {
		return false
	}
	a, err := os.Stat(was.Root())
	if err != nil {
		return false
	}
	b, err := os.Stat(ds.Root())
	return err == nil && os.SameFile(a, b)
}

// oldRepo is a repository the index holds.
type oldRepo struct {
	id   int64
	repo walker.Repository
}

// run updates the tables with what changed since the scan that started at
// earlier (unix nanoseconds) and returns the new counts.
func (u *updater) run(ds *walker.DirStorage, earlier int64) (Summary, error) {
	// The graph snapshot is read from the start, beside the probe and
	// everything the update reads after it: collected at derive's pace
	// throughout, the large bench tree's update peaks at 239 MiB rather
	// than 280, in the same time.
	defer deriveGC(derivePercent)()
	margin := u.opts.changeMargin
	if margin == 0 {
		margin = defaultChangeMargin
	}
	repos, maxID, err := u.repos()
	if err != nil {
		return Summary{}, err
	}
	lookup, err := u.tx.PrepareContext(u.ctx, `SELECT size FROM blobs WHERE digest = ?`)
	if err != nil {
		return Summary{}, fmt.Errorf("prepare blob lookup: %w", err)
	}
	defer lookup.Close()
	var (
		lookupMu  sync.Mutex // one statement: one query at a time
		lookupErr error
	)
	// What the Rescan asks of the blobs the index holds, the snapshot's
	// graph answers (derive, which patches it, comes after the last
	// question), without a query each: a change of 1% of the large bench
	// tree lists 98 of 256 blob shards again, 150k blobs.
	u.readSnapshot()
	u.shards = sync.OnceValue(func() *blobShards {
		if g := u.snapshot().g; g != nil {
			return newBlobShards(g)
		}
		return nil
	})
	base := walker.Baseline{
		Since: time.Unix(0, earlier).Add(-margin),
		Blob: func(d digest.Digest) (int64, bool) {
			if g := u.snapshot().g; g != nil {
				return g.blob(d)
			}
			lookupMu.Lock()
			defer lookupMu.Unlock()
			var size int64
			err := lookup.QueryRowContext(u.ctx, string(d)).Scan(&size)
			if err != nil && !errors.Is(err, sql.ErrNoRows) && lookupErr == nil {
				lookupErr = fmt.Errorf("look up blob %s: %w", d, err)
			}
			return size, err == nil
		},
		ShardBlobs: func(shard string, add func(digest.Digest)) error {
			if bs := u.shards(); bs != nil {
				bs.each(shard, add)
				return nil
			}
			return u.shardBlobs(shard, add)
		},
	}
	for _, r := range repos {
		base.Repos = append(base.Repos, r.repo)
	}
	if base.Reread, err = u.strings("read repositories with unreadable parts or symbolic links", `SELECT DISTINCT r.name FROM problems p
		JOIN repos r ON r.id = p.repo_id WHERE p.kind IN ('unreadable', 'symlink')`); err != nil {
		return Summary{}, err
	}
	if base.Relist, err = u.shardsWithProblems(); err != nil {
		return Summary{}, err
	}
	// The names of the repositories' directories are read while the
	// Rescan looks at what it needs none for, in the file system alone.
	var (
		dirs    map[string]walker.RepoDirs
		dirsErr error
		loaded  = make(chan struct{})
	)
	go func() {
		defer close(loaded)
		dirs, dirsErr = u.repoDirs(repos)
	}()
	base.Dirs = func() (map[string]walker.RepoDirs, error) {
		<-loaded
		return dirs, dirsErr
	}
	wopts := walker.Options{Workers: u.opts.Workers, Progress: u.opts.Progress}
	rs, err := walker.NewRescan(u.ctx, ds, base, wopts)
	<-loaded // when NewRescan needed no names, they are being read still
	// 15 MB of names on the large bench tree, not kept while the graph is
	// patched and derived.
	dirs = nil
	if err != nil {
		return Summary{}, err
	}
	// The derived tables follow from the others: when no repository is to
	// be read again or was removed and no blob came or went (so that no
	// link turned dangling or back), none of those change, nor do they.
	rederive := len(rs.Changed) > 0 || len(rs.Removed) > 0 || len(rs.AddedBlobs) > 0 || len(rs.RemovedBlobs) > 0

	if err := u.tempTables(); err != nil {
		return Summary{}, err
	}
	if err := u.fill("rescan_blobs", "digest, removed", len(rs.AddedBlobs)+len(rs.RemovedBlobs), func(add func(...any) error) error {
		for _, b := range rs.AddedBlobs {
			if err := add(string(b.Digest), false); err != nil {
				return err
			}
		}
		for _, d := range rs.RemovedBlobs {
			if err := add(string(d), true); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return Summary{}, err
	}
	// A link to a blob that came or went reads differently (dangling or
	// not, a manifest or a missing blob): its repository is read again.
	affected, err := u.strings("find repositories that link changed blobs", `SELECT name FROM repos WHERE id IN (
		SELECT repo_id FROM revisions WHERE target IN (SELECT digest FROM temp.rescan_blobs)
		UNION SELECT repo_id FROM tags WHERE digest IN (SELECT digest FROM temp.rescan_blobs)
		UNION SELECT repo_id FROM tag_history WHERE digest IN (SELECT digest FROM temp.rescan_blobs)
		UNION SELECT repo_id FROM layer_links WHERE digest IN (SELECT digest FROM temp.rescan_blobs))`)
	if err != nil {
		return Summary{}, err
	}
	removed := map[string]bool{}
	for _, name := range rs.Removed {
		removed[name] = true
	}
	changed := slices.Clone(rs.Changed)
	for _, name := range affected {
		if !removed[name] {
			changed = append(changed, name)
		}
	}
	slices.Sort(changed)
	changed = slices.Compact(changed)

	if err := u.forgetRepos(repos, changed, rs.Removed); err != nil {
		return Summary{}, err
	}
	w := newWriter(u.ctx, u.tx)
	defer w.close()
	w.firstID = maxID + 1
	sink := &rescanSink{writer: w, seen: map[string]bool{}}
	for _, name := range changed {
		if r, ok := repos[name]; ok {
			w.repos[name] = &repoRow{id: r.id, name: name}
		}
	}
	if err := u.replaceBlobs(rs, sink); err != nil {
		return Summary{}, err
	}
	if _, err := rs.WalkRepos(u.ctx, changed, sink); err != nil {
		return Summary{}, err
	}
	if err := w.flush(); err != nil {
		return Summary{}, err
	}
	read, err := u.writeRepos(w, sink, repos)
	if err != nil {
		return Summary{}, err
	}
	if err := u.updateManifests(rs, sink); err != nil {
		return Summary{}, err
	}
	if lookupErr != nil {
		return Summary{}, lookupErr
	}
	n, err := recordTagsWithoutRevisionIn(u.ctx, u.tx, "IN (SELECT id FROM temp.rescan_read)")
	if err != nil {
		return Summary{}, err
	}
	u.counts.Problems += int(n)
	if rederive {
		c := u.counts
		hint := sizeHint{blobs: c.Blobs, manifests: c.Manifests + sink.manifests, revisions: c.Revisions, tags: c.Tags}
		if err := u.derive(hint); err != nil {
			return Summary{}, err
		}
	}
	if err := w.close(); err != nil {
		return Summary{}, fmt.Errorf("close insert statements: %w", err)
	}
	if err := u.countRead(); err != nil {
		return Summary{}, err
	}
	u.counts.Manifests += sink.manifests
	u.counts.Problems += sink.problems
	sum := u.counts
	sum.Incremental, sum.ReposRead = true, read
	return sum, nil
}

// forgetRepos deletes what the index holds of the repositories to read
// again and of those that are gone, remembering in rescan_targets which
// manifests they named.
func (u *updater) forgetRepos(repos map[string]oldRepo, changed, removed []string) error {
	var ids, gone []int64
	for _, name := range changed {
		if r, ok := repos[name]; ok {
			ids = append(ids, r.id)
		}
	}
	for _, name := range removed {
		ids = append(ids, repos[name].id)
		gone = append(gone, repos[name].id)
	}
	if err := u.fill("rescan_repos", "id", len(ids), func(add func(...any) error) error {
		for _, id := range ids {
			if err := add(id); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if _, err := u.exec("remember the manifests of changed repositories", `INSERT OR IGNORE INTO temp.rescan_targets
		SELECT target FROM revisions WHERE repo_id IN (SELECT id FROM temp.rescan_repos)`); err != nil {
		return err
	}
	counts := map[string]*int{
		"tags": &u.counts.Tags, "tag_history": nil, "revisions": &u.counts.Revisions,
		"layer_links": &u.counts.LayerLinks, "uploads": &u.counts.Uploads, "problems": &u.counts.Problems,
	}
	for _, table := range []string{"tags", "tag_history", "revisions", "layer_links", "uploads", "problems"} {
		n, err := u.exec("forget the "+table+" of changed repositories",
			`DELETE FROM `+table+` WHERE repo_id IN (SELECT id FROM temp.rescan_repos)`)
		if err != nil {
			return err
		}
		if c := counts[table]; c != nil {
			*c -= int(n)
		}
	}
	for _, id := range gone {
		if err := u.forgetRepo(id); err != nil {
			return err
		}
	}
	return nil
}

func (u *updater) forgetRepo(id int64) error {
	n, err := u.exec("forget a removed repository", `DELETE FROM repos WHERE id = ?`, id)
	u.counts.Repos -= int(n)
	return err
}

// countRead adds the rows the repositories read now have.
func (u *updater) countRead() error {
	var tags, revisions, layers, uploads int
	err := u.tx.QueryRowContext(u.ctx, `SELECT
		(SELECT count(*) FROM tags WHERE repo_id IN (SELECT id FROM temp.rescan_read)),
		(SELECT count(*) FROM revisions WHERE repo_id IN (SELECT id FROM temp.rescan_read)),
		(SELECT count(*) FROM layer_links WHERE repo_id IN (SELECT id FROM temp.rescan_read)),
		(SELECT count(*) FROM uploads WHERE repo_id IN (SELECT id FROM temp.rescan_read))`).
		Scan(&tags, &revisions, &layers, &uploads)
	if err != nil {
		return fmt.Errorf("count rows read: %w", err)
	}
	u.counts.Tags += tags
	u.counts.Revisions += revisions
	u.counts.LayerLinks += layers
	u.counts.Uploads += uploads
	return nil
}

// repos returns the repositories the index holds, by name, and the largest
// id.
func (u *updater) repos() (map[string]oldRepo, int64, error) {
	rows, err := u.tx.QueryContext(u.ctx, `SELECT id, name, listed, has_layers, has_uploads FROM repos`)
	if err != nil {
		return nil, 0, fmt.Errorf("read repositories: %w", err)
	}
	defer rows.Close()
	repos := map[string]oldRepo{}
	var maxID int64
	for rows.Next() {
		var r oldRepo
		if err := rows.Scan(&r.id, &r.repo.Name, &r.repo.Listed, &r.repo.HasLayers, &r.repo.HasUploads); err != nil {
			return nil, 0, fmt.Errorf("read repositories: %w", err)
		}
		repos[r.repo.Name] = r
		maxID = max(maxID, r.id)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("read repositories: %w", err)
	}
	return repos, maxID, nil
}

// repoDirs returns the names of the directories each repository held at
// the latest scan, as far as a Rescan looks at them by name
// (walker.RepoDirs): its sha256 revisions and layer links, and its
// uploads. Each table is read once, in the order of its primary key's
// index, which holds every column read: a row per repository, its names
// joined by SQLite. Reading layer_links' index (35 MB on the large bench
// tree) costs about as much CPU as listing the 8,700 directories it
// spares, but those listings read as many directory blocks from disk
// once the page cache lost them, as it has after a full build.
func (u *updater) repoDirs(repos map[string]oldRepo) (map[string]walker.RepoDirs, error) {
	names := make(map[int64]string, len(repos))
	for name, r := range repos {
		names[r.id] = name
	}
	dirs := make(map[string]walker.RepoDirs, len(repos))
	each := func(what, q string, add func(d *walker.RepoDirs, joined []byte)) error {
		return queryEach(u.ctx, u.tx, "read "+what, q, func(rows *sql.Rows) error {
			var (
				id     int64
				joined sql.RawBytes
			)
			if err := rows.Scan(&id, &joined); err != nil {
				return err
			}
			name, ok := names[id]
			if !ok {
				return fmt.Errorf("%s of repository id %d, which repos lacks", what, id)
			}
			d := dirs[name]
			add(&d, joined)
			dirs[name] = d
			return nil
		})
	}
	// The hex of sha256 digests, 64 characters each, joined with nothing
	// between them.
	err := each("revisions", `SELECT repo_id, group_concat(substr(digest, 8), '') FROM revisions
		WHERE substr(digest, 1, 7) = 'sha256:' AND length(digest) = 71 GROUP BY repo_id`, func(d *walker.RepoDirs, joined []byte) {
		d.Revisions = sha256Keys(joined)
	})
	if err != nil {
		return nil, err
	}
	err = each("layer links", `SELECT repo_id, group_concat(substr(digest, 8), '') FROM layer_links
		WHERE substr(digest, 1, 7) = 'sha256:' AND length(digest) = 71 GROUP BY repo_id`, func(d *walker.RepoDirs, joined []byte) {
		d.Layers = sha256Keys(joined)
	})
	if err != nil {
		return nil, err
	}
	// A directory's name holds no '/'.
	err = each("uploads", `SELECT repo_id, group_concat(uuid, '/') FROM uploads GROUP BY repo_id`, func(d *walker.RepoDirs, joined []byte) {
		d.Uploads = strings.Split(string(joined), "/")
	})
	if err != nil {
		return nil, err
	}
	return dirs, nil
}

// sha256Keys decodes the hex of sha256 digests joined with nothing between
// them, or returns nil when they are not that: a digest the walker would
// not have recorded leaves the repository's revisions unnamed, and listed.
func sha256Keys(joined []byte) [][32]byte {
	if len(joined)%64 != 0 {
		return nil
	}
	keys := make([][32]byte, len(joined)/64)
	for i := range keys {
		if _, err := hex.Decode(keys[i][:], joined[i*64:(i+1)*64]); err != nil {
			return nil
		}
	}
	return keys
}

// shardBlobs feeds a Rescan the blobs the index holds in one shard
// directory ("sha256/ab"): the digests from "sha256:ab" up to, not
// including, "sha256:ab~", since '~' sorts after every hex digit.
func (u *updater) shardBlobs(shard string, add func(digest.Digest)) error {
	prefix := strings.Replace(shard, "/", ":", 1)
	rows, err := u.tx.QueryContext(u.ctx, `SELECT digest FROM blobs WHERE digest >= ? AND digest < ?`, prefix, prefix+"~")
	if err != nil {
		return fmt.Errorf("read blobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return fmt.Errorf("read blobs: %w", err)
		}
		add(digest.Digest(d))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read blobs: %w", err)
	}
	return nil
}

// blobShards are the blobs of a graph by the shard directory holding
// them: sha256 ones by the first byte of their key, others by their text.
type blobShards struct {
	g      *graph
	sha256 [256][]int32
	other  []int32
}

func newBlobShards(g *graph) *blobShards {
	s := &blobShards{g: g}
	for id := range int32(g.d.len()) {
		switch {
		case !g.isBlob(id):
		case g.d.isText[id]:
			s.other = append(s.other, id)
		default:
			b := g.d.keys[id][0]
			s.sha256[b] = append(s.sha256[b], id)
		}
	}
	return s
}

// each calls add for every blob in the shard directory shard
// ("sha256/ab"), as shardBlobs does from the table.
func (s *blobShards) each(shard string, add func(digest.Digest)) {
	alg, x, _ := strings.Cut(shard, "/")
	if b, ok := walker.HexByte(x); alg == "sha256" && ok {
		for _, id := range s.sha256[b] {
			add(digest.Digest(s.g.d.text(id)))
		}
	}
	prefix := alg + ":" + x
	for _, id := range s.other {
		if t := s.g.d.texts[id]; t >= prefix && t < prefix+"~" {
			add(digest.Digest(t))
		}
	}
}

// blob returns the size of blob d and whether the graph has it.
func (g *graph) blob(d digest.Digest) (int64, bool) {
	if id, ok := g.d.lookup(string(d)); ok && g.isBlob(id) {
		return g.blobSize[id], true
	}
	return 0, false
}

func (u *updater) strings(what, q string, args ...any) ([]string, error) {
	rows, err := u.tx.QueryContext(u.ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// blobProblemKinds are the problems a listing of blobs/ reports.
const blobProblemKinds = `('bad_blob_path', 'stray_file')`

// shardsWithProblems returns the shard directories ("sha256/ab") holding
// something a listing reported: a Rescan lists them again, so that the
// problems are reported again, or not when they are gone.
func (u *updater) shardsWithProblems() ([]string, error) {
	paths, err := u.strings("read blob problems", `SELECT DISTINCT path FROM problems
		WHERE repo_id IS NULL AND kind IN `+blobProblemKinds+` AND path LIKE 'blobs/%/%/%'`)
	if err != nil {
		return nil, err
	}
	var shards []string
	for _, p := range paths {
		if parts := strings.Split(p, "/"); len(parts) >= 4 {
			shards = append(shards, parts[1]+"/"+parts[2])
		}
	}
	slices.Sort(shards)
	return slices.Compact(shards), nil
}

// tempTables makes the scratch tables of one update.
func (u *updater) tempTables() error {
	for _, q := range []string{
		`CREATE TEMP TABLE rescan_blobs (digest TEXT PRIMARY KEY, removed INTEGER NOT NULL)`,
		`CREATE TEMP TABLE rescan_repos (id INTEGER PRIMARY KEY)`,
		`CREATE TEMP TABLE rescan_read (id INTEGER PRIMARY KEY)`,
		`CREATE TEMP TABLE rescan_targets (digest TEXT PRIMARY KEY)`,
		`CREATE TEMP TABLE rescan_drop (digest TEXT PRIMARY KEY)`,
		`CREATE TEMP TABLE rescan_new (digest TEXT PRIMARY KEY)`,
		`CREATE TEMP TABLE rescan_indexes (digest TEXT PRIMARY KEY)`,
	} {
		if _, err := u.exec("create scratch table", q); err != nil {
			return err
		}
	}
	return nil
}

// fill inserts rows into a scratch table.
func (u *updater) fill(table, columns string, n int, rows func(add func(...any) error) error) error {
	if n == 0 {
		return nil
	}
	b := newBatch(u.tx, "temp."+table, strings.Split(columns, ", "), "ON CONFLICT DO NOTHING")
	defer b.close()
	if err := rows(func(v ...any) error { return b.add(u.ctx, v...) }); err != nil {
		return err
	}
	return b.flush(u.ctx)
}

// forgetProblems deletes problems and counts them out.
func (u *updater) forgetProblems(what, where string, args ...any) error {
	n, err := u.exec(what, `DELETE FROM problems WHERE `+where, args...)
	u.counts.Problems -= int(n)
	return err
}

// replaceBlobs removes the blobs that went, adds those that came, and
// replaces the problems of blobs/ and of the shards listed again.
func (u *updater) replaceBlobs(rs *walker.Rescan, sink *rescanSink) error {
	var gone int
	var bytes int64
	err := u.tx.QueryRowContext(u.ctx, `SELECT count(*), coalesce(sum(size), 0) FROM blobs
		WHERE digest IN (SELECT digest FROM temp.rescan_blobs WHERE removed)`).Scan(&gone, &bytes)
	if err != nil {
		return fmt.Errorf("count removed blobs: %w", err)
	}
	if _, err := u.exec("forget removed blobs",
		`DELETE FROM blobs WHERE digest IN (SELECT digest FROM temp.rescan_blobs WHERE removed)`); err != nil {
		return err
	}
	u.counts.Blobs -= gone
	u.counts.BlobBytes -= bytes
	// The listing of blobs/ and its algorithm directories is read every
	// time: paths of at most three components.
	if err := u.forgetProblems("forget problems of blobs/", `repo_id IS NULL AND kind IN `+blobProblemKinds+`
		AND (path = 'blobs' OR path LIKE 'blobs/%') AND length(path) - length(replace(path, '/', '')) <= 2`); err != nil {
		return err
	}
	for _, shard := range rs.Relisted {
		if err := u.forgetProblems("forget problems of blobs/"+shard,
			`repo_id IS NULL AND kind IN `+blobProblemKinds+` AND path LIKE ?`, "blobs/"+shard+"/%"); err != nil {
			return err
		}
	}
	for _, b := range rs.AddedBlobs {
		if err := sink.Blob(b); err != nil {
			return err
		}
		u.counts.Blobs++
		u.counts.BlobBytes += b.Size
	}
	for _, p := range rs.BlobProblems {
		if err := sink.Problem(p); err != nil {
			return err
		}
	}
	return nil
}

// rescanSink is the writer, noting which repositories a walk reported and
// counting the manifests and problems it inserts: each is a row (the
// problems table takes every one, a manifest is read only when the index
// does not hold it).
type rescanSink struct {
	*writer
	seen                map[string]bool
	manifests, problems int
}

func (s *rescanSink) Repository(r walker.Repository) error {
	s.seen[r.Name] = true
	return s.writer.Repository(r)
}

func (s *rescanSink) Manifest(m walker.Manifest) error {
	s.manifests++
	return s.writer.Manifest(m)
}

func (s *rescanSink) Problem(p walker.Problem) error {
	s.problems++
	return s.writer.Problem(p)
}

// writeRepos writes the repositories read: new ones are inserted, those
// the index held get their flags again, and any the walk no longer found
// (gone since the rescan looked) are forgotten. It fills rescan_read and
// returns how many were read.
func (u *updater) writeRepos(w *writer, sink *rescanSink, repos map[string]oldRepo) (int, error) {
	var read []int64
	for name, row := range w.repos {
		if _, kept := repos[name]; !kept {
			continue // new: inserted below
		}
		if !sink.seen[name] {
			if err := u.forgetRepo(row.id); err != nil {
				return 0, err
			}
			continue
		}
		if _, err := u.exec("update repository "+name, `UPDATE repos SET listed = ?, has_layers = ?, has_uploads = ? WHERE id = ?`,
			row.listed, row.hasLayers, row.hasUpload, row.id); err != nil {
			return 0, err
		}
		read = append(read, row.id)
	}
	b := newBatch(u.tx, "repos", []string{"id", "name", "listed", "has_layers", "has_uploads"}, "")
	defer b.close()
	for _, r := range w.order {
		if err := b.add(u.ctx, r.id, r.name, r.listed, r.hasLayers, r.hasUpload); err != nil {
			return 0, err
		}
		read = append(read, r.id)
		u.counts.Repos++
	}
	if err := b.flush(u.ctx); err != nil {
		return 0, err
	}
	err := u.fill("rescan_read", "id", len(read), func(add func(...any) error) error {
		for _, id := range read {
			if err := add(id); err != nil {
				return err
			}
		}
		return nil
	})
	return len(read), err
}

// updateManifests makes manifests, refs and their problems what a full
// build would make of the revisions and blobs there are now: it forgets the
// manifests no revision names any more (or whose blob went), reads those
// a revision names for the first time, and reads again those whose config
// blob came or went. A config's problem is reported once, by whichever of
// its manifests a walk reads first: when one of them changes, all are read
// again so that the problem is reported as a full build would.
func (u *updater) updateManifests(rs *walker.Rescan, sink *rescanSink) error {
	steps := []struct{ what, q string }{
		{"find manifests no revision names", `INSERT INTO temp.rescan_drop
			SELECT m.digest FROM manifests m
			 WHERE m.digest IN (SELECT digest FROM temp.rescan_targets UNION SELECT digest FROM temp.rescan_blobs)
			   AND NOT (EXISTS (SELECT 1 FROM revisions v WHERE v.target = m.digest)
			            AND EXISTS (SELECT 1 FROM blobs b WHERE b.digest = m.digest))`},
		{"find new manifests", `INSERT OR IGNORE INTO temp.rescan_new
			SELECT v.target FROM revisions v
			 WHERE v.repo_id IN (SELECT id FROM temp.rescan_read)
			   AND EXISTS (SELECT 1 FROM blobs b WHERE b.digest = v.target)
			   AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = v.target)`},
		{"find manifests whose config changed", `INSERT OR IGNORE INTO temp.rescan_new
			SELECT digest FROM manifests
			 WHERE config_digest IN (SELECT digest FROM temp.rescan_blobs)
			   AND digest NOT IN (SELECT digest FROM temp.rescan_drop)`},
		{"find manifests sharing a config with a problem", `INSERT OR IGNORE INTO temp.rescan_new
			SELECT m.digest FROM manifests m
			 WHERE m.config_digest IN (SELECT c.config_digest FROM manifests c
			                            WHERE c.digest IN (SELECT digest FROM temp.rescan_drop UNION SELECT digest FROM temp.rescan_new)
			                              AND EXISTS (SELECT 1 FROM problems p WHERE p.repo_id IS NULL AND p.kind = 'config_invalid'
			                                             AND p.digest = c.config_digest))
			   AND m.digest NOT IN (SELECT digest FROM temp.rescan_drop)`},
		// The manifests indexes total up: those changing now and every
		// index above them.
		{"find indexes to total again", `WITH RECURSIVE up(digest) AS (
				SELECT digest FROM temp.rescan_drop UNION SELECT digest FROM temp.rescan_new
				UNION SELECT r.manifest_digest FROM refs r JOIN up ON r.digest = up.digest AND r.kind = 'child')
			INSERT INTO temp.rescan_indexes SELECT digest FROM up`},
	}
	for _, s := range steps {
		if _, err := u.exec(s.what, s.q); err != nil {
			return err
		}
	}
	// The problems of a changed config go; reading its manifests again
	// reports them again.
	if err := u.forgetProblems("forget problems of changed configs", `repo_id IS NULL AND kind = 'config_invalid'
		AND digest IN (SELECT config_digest FROM manifests
		                WHERE digest IN (SELECT digest FROM temp.rescan_drop UNION SELECT digest FROM temp.rescan_new))`); err != nil {
		return err
	}
	forget, err := u.strings("read manifests to forget", `SELECT digest FROM manifests
		WHERE digest IN (SELECT digest FROM temp.rescan_drop UNION SELECT digest FROM temp.rescan_new)`)
	if err != nil {
		return err
	}
	for _, d := range forget {
		if err := u.forgetProblems("forget problems of manifest "+d,
			`repo_id IS NULL AND path = ? AND kind IN ('`+strings.Join(manifestProblemKinds, "', '")+`')`,
			walker.BlobDir(digest.Digest(d))+"/data"); err != nil {
			return err
		}
	}
	if _, err := u.exec("forget changed manifests", `DELETE FROM refs
		WHERE manifest_digest IN (SELECT digest FROM temp.rescan_drop UNION SELECT digest FROM temp.rescan_new)`); err != nil {
		return err
	}
	n, err := u.exec("forget changed manifests", `DELETE FROM manifests
		WHERE digest IN (SELECT digest FROM temp.rescan_drop UNION SELECT digest FROM temp.rescan_new)`)
	if err != nil {
		return err
	}
	u.counts.Manifests -= int(n)

	toRead, err := u.strings("read manifests to read", `SELECT digest FROM temp.rescan_new ORDER BY digest`)
	if err != nil {
		return err
	}
	ds := make([]digest.Digest, len(toRead))
	for i, d := range toRead {
		ds[i] = digest.Digest(d)
	}
	if _, err := rs.ReadManifests(u.ctx, ds, sink); err != nil {
		return err
	}
	if err := sink.flush(); err != nil {
		return err
	}
	// A config read again by a manifest of this update reports its
	// problem once more: keep one, as a full build does.
	if err := u.forgetProblems("keep one problem per config", `repo_id IS NULL AND kind = 'config_invalid'
		AND id NOT IN (SELECT max(id) FROM problems WHERE repo_id IS NULL AND kind = 'config_invalid' GROUP BY path)`); err != nil {
		return err
	}
	return u.totalIndexes()
}

// totalIndexes computes total_size again for the indexes in
// rescan_indexes, as computeTotalSizes does for all: the body plus the
// total of each distinct child the index holds, one level of nesting a
// pass.
func (u *updater) totalIndexes() error {
	const total = `manifests.size + coalesce((SELECT sum(c.total_size) FROM manifests c
		WHERE c.digest IN (SELECT r.digest FROM refs r WHERE r.manifest_digest = manifests.digest AND r.kind = 'child')), 0)`
	for range maxIndexDepth {
		n, err := u.exec("compute total sizes of indexes", `UPDATE manifests SET total_size = `+total+`
			WHERE digest IN (SELECT digest FROM temp.rescan_indexes) AND kind = 'index' AND total_size <> `+total)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	return nil
}

// derive computes the derived tables again from the graph of the updated
// tables: the snapshot of the index as the update found it, patched with
// what the update changed, or when there is none to trust, the graph read
// from the tables whole. It leaves the new graph's snapshot at pending.
func (u *updater) derive(hint sizeHint) error {
	u.derived = true
	g, why := u.snapshotGraph()
	var scope *repoScope
	if g == nil {
		if u.opts.Notice != nil {
			u.opts.Notice("derived tables: reading the whole index (" + why + ")")
		}
		var err error
		if g, err = loadGraph(u.ctx, u.tx, hint); err != nil {
			return err
		}
	} else {
		// The snapshot's stamp says that no other writer changed the
		// index since the build that wrote it: its derived rows are the
		// ones that build computed. (Read whole, they may not be: they
		// are all compared.)
		scope = &repoScope{
			repos: g.patchedRepos,
			ids:   `SELECT id FROM temp.rescan_read UNION ALL SELECT id FROM temp.rescan_repos`,
		}
	}
	if !u.stamped { // no snapshot can be kept
		return derive(u.ctx, u.tx, g, u.opts.Driver, false, scope)
	}
	// The new snapshot is written while the tables are: both only read
	// the graph.
	written := make(chan error, 1)
	pending := snapshotPath(u.dbPath) + ".new"
	go func() { written <- writeSnapshot(pending, g) }()
	err := derive(u.ctx, u.tx, g, u.opts.Driver, false, scope)
	werr := <-written
	switch {
	case err != nil:
		os.Remove(pending)
		return err
	case werr == nil:
		u.pending = pending
	case u.opts.Notice != nil:
		u.opts.Notice(werr.Error() + "; the next incremental build reads the whole index to derive its tables")
	}
	return nil
}

// snapshotRead is a graph read from a snapshot, or why not.
type snapshotRead struct {
	g   *graph
	err error
}

// readSnapshot starts reading the snapshot, once: the file is the
// snapshot of the index as the update found it, whatever the update
// writes meanwhile.
func (u *updater) readSnapshot() {
	if u.snapshot != nil {
		return
	}
	if !u.stamped {
		u.snapshot = func() snapshotRead { return snapshotRead{err: errNoSnapshot} }
		return
	}
	read := make(chan snapshotRead, 1)
	go func() {
		g, err := readSnapshot(snapshotPath(u.dbPath), u.stamp)
		read <- snapshotRead{g, err}
	}()
	u.snapshot = sync.OnceValue(func() snapshotRead { return <-read })
}

// snapshotGraph returns the graph of the updated tables from the
// snapshot, or nil and why not.
func (u *updater) snapshotGraph() (*graph, string) {
	if !u.stamped {
		return nil, "the index file is not one a graph snapshot can be kept for"
	}
	u.readSnapshot()
	read := u.snapshot()
	if read.err != nil {
		return nil, read.err.Error()
	}
	g := read.g
	if err := g.patch(u.ctx, u.tx); err != nil {
		return nil, err.Error()
	}
	return g, ""
}

// keepSnapshot, once the update is committed, puts the new snapshot in
// place, stamped with the index's new state; or when derive did not run
// (the graph's tables did not change), stamps the snapshot there is with
// it. Either only if the index's state is the one this commit made: one
// more commit than the update began from.
func (u *updater) keepSnapshot() {
	if !u.derived {
		if u.stamped {
			restampSnapshot(u.dbPath, u.stamp)
		}
		return
	}
	now, ok := stampOf(u.dbPath)
	keepSnapshot(u.pending, snapshotPath(u.dbPath), now, ok && u.stamped && now == u.stamp.next())
	u.pending = ""
}

// discardSnapshot removes a new snapshot the update did not keep.
func (u *updater) discardSnapshot() {
	if u.pending != "" {
		_ = os.Remove(u.pending)
	}
}
