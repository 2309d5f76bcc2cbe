package walker

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// Baseline is what an earlier walk of the same storage found, as much of
// it as a Rescan needs.
type Baseline struct {
	// Since is when the earlier walk started, less a margin for the
	// storage's clock and the granularity of its times: whatever changed
	// at or after it is read again.
	Since time.Time
	// Repos are the repositories the earlier walk found.
	Repos []Repository
	// Blob returns the size of blob d and whether the earlier walk found
	// it. The walker calls it from several goroutines at once.
	Blob func(d digest.Digest) (int64, bool)
	// ShardBlobs calls add for every blob the earlier walk found in the
	// shard directory shard ("sha256/ab").
	ShardBlobs func(shard string, add func(d digest.Digest)) error
	// Reread names repositories to read again whatever their times say:
	// ones the earlier walk could not read whole, and ones it found a
	// ProblemSymlink in, which NewRescan would not see every change of.
	Reread []string
	// Relist names blob shard directories ("sha256/ab") to list again
	// whatever their times say: ones with problems to report again.
	Relist []string
	// Dirs returns, by repository name, the directories the earlier walk
	// found in it: with them NewRescan looks at those by name rather than
	// list the directories holding them, where it can tell that they are
	// all there are (see Rescan). NewRescan calls it once, when it has
	// looked at what it can look at without them, so that the caller can
	// read them meanwhile. Without it, or a repository without them, the
	// directories are listed.
	Dirs func() (map[string]RepoDirs, error)
}

// RepoDirs are the names of the directories an earlier walk found in one
// repository, as far as the caller recorded them, each once. A name
// missing, or one too many, costs a listing, not a change missed.
type RepoDirs struct {
	// Revisions are the <hex> of each _manifests/revisions/sha256/<hex>/
	// holding a revision link, as 32-byte keys: a large registry has
	// hundreds of thousands.
	Revisions [][32]byte
	// Layers are the <hex> of each _layers/sha256/<hex>/ holding a layer
	// link, as Revisions.
	Layers [][32]byte
	// Uploads are names of directories in _uploads/.
	Uploads []string
}

// Rescan is what changed in a storage since a Baseline, as NewRescan found
// it, and the means to read it: WalkRepos reads the repositories that
// changed, ReadManifests the manifests that are new to the caller.
//
// How a change is found: every write the registry makes (a link written in
// place by the v2 filesystem driver or renamed into place by v3's, a link
// or directory removed by an API delete, the garbage collector or the
// upload purger, a directory made by a push) gives the file or the
// directory that holds the entry a change time (ctime, which no tool can
// set back) at or after the write. NewRescan looks into every directory
// of the repositories/ tree (to find new and removed repositories) and at
// the change time of: in each repository, its directory, _manifests/, the
// revisions/, _layers/, tags/ and _uploads/ directories and their digest
// algorithm directories, every revision and layer link file (or its
// directory when it holds none: a link removed through the API leaves
// it), and every upload directory with its data and startedat; every
// blobs/<alg>/<xx> shard directory. A repository with any of them changed
// is read again whole; a changed shard is listed again and only its new
// blobs looked at, since a blob is written once and removed with its
// directory.
//
// What a directory holds it learns without listing it where it can. A
// directory whose change time is before Baseline.Since holds what the
// earlier walk found in it (making, removing or renaming an entry changes
// it), and its link count is 2 plus its subdirectories (on Linux file
// systems that count them: ext4, XFS, tmpfs). When that count is the
// number of subdirectories the Baseline accounts for and each of them is
// one (in the repositories/ tree, the directories holding the Baseline's
// repositories and their _manifests, _layers and _uploads; in revisions/
// and _layers/, sha256/; in _uploads/, what Baseline.Dirs names), they are
// all it holds but files, which nothing here reads, and NewRescan looks at
// them by name. In revisions/sha256/ and _layers/sha256/ the count alone
// says so for the link directories Baseline.Dirs names: the caller reads
// a repository with a symlink problem again (see Baseline.Reread). A
// listing reads the
// directory's blocks, which a cold page cache does not hold, where a look
// by name reads only inodes the kernel keeps cached. Any other count (a
// directory no repository is in, an empty link directory an API delete
// left, a file system that does not count) makes it list the directory:
// nothing a listing would find is missed.
//
// What is in a tag's directory is not looked at, only tags/ itself, which
// a tag made or deleted changes. The registry puts a manifest before it
// tags it: every push of a tag, which writes its current/link and a
// history link, rewrites the revision link of the manifest it names too.
// Its garbage collector (and regsql's) removes a tag history entry only
// with the revision it names, the history first: a sweep stopped between
// the two leaves a history entry gone unseen until the revision goes. A
// hand edit of a tag alone, or a file moved into place with an older
// change time, is not seen: a full walk is.
type Rescan struct {
	// Changed are the repositories to read again, in name order: new
	// ones, ones whose layout changed (_manifests, _layers or _uploads
	// appeared or went), ones with a change found since Baseline.Since,
	// and the Baseline's Reread ones that are still there.
	Changed []string
	// Removed are the Baseline's repositories that are gone, in name
	// order.
	Removed []string
	// AddedBlobs are the blobs the Baseline did not have; RemovedBlobs
	// are the Baseline's blobs that are gone.
	AddedBlobs   []Blob
	RemovedBlobs []digest.Digest
	// Relisted are the shard directories listed again ("sha256/ab").
	// BlobProblems are every problem about blobs/ itself, its algorithm
	// and shard directories, and what is in the relisted shards: they
	// replace any earlier problem about those.
	Relisted     []string
	BlobProblems []Problem
	// DirsListed is how many directories of the repositories/ tree
	// NewRescan listed; it looked at the others by name. With a cold page
	// cache, each listing is a disk read.
	DirsListed int

	st      Storage
	opts    Options
	repos   map[string]Repository // every repository there is now
	blob    func(d digest.Digest) (int64, bool)
	added   map[digest.Digest]int64
	removed map[digest.Digest]bool
}

// NewRescan finds what changed in the storage st since base: which
// repositories to read again, which are gone, and which blobs were added
// or removed. It reads only change times, directory listings and the new
// blobs. It returns an error wrapping ErrCannotRescan when it cannot tell
// what changed (Options.Verify, which reads everything; a system without
// change times; a part of repositories/ or blobs/ it cannot read): then
// only a full Walk gives the right answer.
func NewRescan(ctx context.Context, st *DirStorage, base Baseline, opts Options) (*Rescan, error) {
	if opts.Verify {
		return nil, fmt.Errorf("%w: a verifying walk reads everything", ErrCannotRescan)
	}
	if !changeTimes {
		return nil, fmt.Errorf("%w: this system does not give change times", ErrCannotRescan)
	}
	if base.Blob == nil || base.ShardBlobs == nil {
		return nil, fmt.Errorf("%w: the baseline says nothing of blobs", ErrCannotRescan)
	}
	top, err := st.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list registry storage root: %w", err)
	}
	has := map[string]Entry{}
	for _, e := range top {
		has[e.Name] = e
	}

	r := &Rescan{st: st, opts: opts}
	known := make(map[string]Repository, len(base.Repos))
	for _, repo := range base.Repos {
		known[repo.Name] = repo
	}
	reread := map[string]bool{}
	for _, name := range base.Reread {
		reread[name] = true
	}
	r.repos = map[string]Repository{}
	if e, ok := has["repositories"]; ok {
		if !e.IsDir {
			return nil, fmt.Errorf("%w: repositories is not a directory", ErrCannotRescan)
		}
		found, changed, listed, err := probeRepositories(ctx, st.Root(), base.Since.UnixNano(), known, base.Dirs, reread, r.workers())
		if err != nil {
			return nil, err
		}
		r.repos, r.Changed, r.DirsListed = found, changed, listed
	}
	for name := range known {
		if _, ok := r.repos[name]; !ok {
			r.Removed = append(r.Removed, name)
		}
	}
	slices.Sort(r.Changed)
	slices.Sort(r.Removed)

	if err := r.rescanBlobs(ctx, st, has, base); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Rescan) workers() int {
	n := r.opts.Workers
	if n <= 0 {
		n = runtime.NumCPU() * 4
	}
	return min(n, maxWorkers)
}

// shardOf is the "<alg>/<xx>" shard directory of a blob.
func shardOf(d digest.Digest) string {
	alg, hex, _ := strings.Cut(string(d), ":")
	if len(hex) < 2 {
		return alg + "/"
	}
	return alg + "/" + hex[:2]
}

// allShards are the shard directories ("sha256/ab") there may be.
func allShards() []string {
	var shards []string
	for _, alg := range []string{"sha256", "sha384", "sha512"} {
		for i := range 256 {
			shards = append(shards, fmt.Sprintf("%s/%02x", alg, i))
		}
	}
	return shards
}

// shardState is what a rescan knows of one shard directory listed again:
// the blobs the earlier walk found there, and which of them it found
// again. sha256 ones are kept as sorted keys, 32 bytes each: a change of 1%
// of a large registry lists half its shards again. Only the worker
// listing the shard touches it.
type shardState struct {
	keys  [][32]byte
	found []bool
	other map[digest.Digest]bool // other algorithms: found again or not
}

func (s *shardState) add(d digest.Digest) {
	if key, ok := SHA256Key(d); ok {
		s.keys = append(s.keys, key)
		return
	}
	if s.other == nil {
		s.other = map[digest.Digest]bool{}
	}
	s.other[d] = false
}

// known says whether the earlier walk found d in the shard, and notes that
// it is there still.
func (s *shardState) known(d digest.Digest) bool {
	if key, ok := SHA256Key(d); ok {
		i, found := slices.BinarySearchFunc(s.keys, key, func(k, want [32]byte) int { return bytes.Compare(k[:], want[:]) })
		if found {
			s.found[i] = true
		}
		return found
	}
	if _, ok := s.other[d]; ok {
		s.other[d] = true
		return true
	}
	return false
}

// gone calls f for every blob the earlier walk found in the shard that
// the listing did not find again.
func (s *shardState) gone(f func(digest.Digest)) {
	for i, key := range s.keys {
		if !s.found[i] {
			f(digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(key[:])))
		}
	}
	for d, found := range s.other {
		if !found {
			f(d)
		}
	}
}

// rescanBlobs lists blobs/ and its algorithm directories as a Walk does,
// then only the shards changed since base.Since (or named by base.Relist),
// and in them looks only at blobs the earlier walk did not have.
func (r *Rescan) rescanBlobs(ctx context.Context, st *DirStorage, has map[string]Entry, base Baseline) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	since := base.Since.UnixNano()
	relist := map[string]bool{}
	for _, s := range base.Relist {
		relist[s] = true
	}
	var (
		mu      sync.Mutex
		offered = map[string]bool{}        // every valid shard directory there is
		shards  = map[string]*shardState{} // those listed again
		readErr error
	)
	w := r.newWalker(ctx, cancel)
	w.listShard = func(alg, prefix string) bool {
		shard := alg + "/" + prefix
		if !relist[shard] && !shardChanged(st.Root(), shard, since) {
			mu.Lock()
			offered[shard] = true
			mu.Unlock()
			return false
		}
		s := &shardState{}
		if err := base.ShardBlobs(shard, s.add); err != nil {
			readErr = fmt.Errorf("read the earlier walk's blobs in %s: %w", shard, err)
			cancel(readErr)
			return false
		}
		slices.SortFunc(s.keys, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
		s.found = make([]bool, len(s.keys))
		mu.Lock()
		defer mu.Unlock()
		offered[shard], shards[shard] = true, s
		return true
	}
	w.knownBlob = func(d digest.Digest) bool {
		mu.Lock()
		s := shards[shardOf(d)]
		mu.Unlock()
		return s.known(d)
	}

	go func() {
		if e, ok := has["blobs"]; ok {
			w.walkBlobs(e)
		}
		w.flush()
		w.wg.Wait()
		close(w.out)
	}()
	collect := &collector{}
	if _, err := emit(w.out, collect, nil, cancel); err != nil {
		return err
	}
	if readErr != nil {
		return readErr
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if w.blobsIncomplete.Load() {
		return fmt.Errorf("%w: part of blobs/ cannot be read", ErrCannotRescan)
	}
	r.AddedBlobs, r.BlobProblems = collect.blobs, collect.problems

	// What a shard listed again no longer holds is removed. So is
	// whatever was in a shard directory that is gone (or no longer a
	// valid one): the earlier walk's blobs there are asked for.
	r.added, r.removed = map[digest.Digest]int64{}, map[digest.Digest]bool{}
	for _, b := range r.AddedBlobs {
		r.added[b.Digest] = b.Size
	}
	for shard, s := range shards {
		r.Relisted = append(r.Relisted, shard)
		s.gone(func(d digest.Digest) { r.removed[d] = true })
	}
	for _, shard := range allShards() {
		if offered[shard] {
			continue
		}
		err := base.ShardBlobs(shard, func(d digest.Digest) { r.removed[d] = true })
		if err != nil {
			return fmt.Errorf("read the earlier walk's blobs in %s: %w", shard, err)
		}
	}
	for d := range r.removed {
		r.RemovedBlobs = append(r.RemovedBlobs, d)
	}
	slices.Sort(r.Relisted)
	slices.Sort(r.RemovedBlobs)
	blob := base.Blob // not base, which would keep what else it holds
	r.blob = func(d digest.Digest) (int64, bool) {
		if size, ok := r.added[d]; ok {
			return size, true
		}
		if r.removed[d] {
			return 0, false
		}
		return blob(d)
	}
	return nil
}

// collector is a Sink that keeps what a listing of blobs/ sends: blobs and
// problems, nothing else.
type collector struct {
	blobs    []Blob
	problems []Problem
}

func (c *collector) Blob(b Blob) error           { c.blobs = append(c.blobs, b); return nil }
func (c *collector) Problem(p Problem) error     { c.problems = append(c.problems, p); return nil }
func (c *collector) Repository(Repository) error { return errNotBlobRecord }
func (c *collector) Tag(Tag) error               { return errNotBlobRecord }
func (c *collector) TagHistory(TagHistory) error { return errNotBlobRecord }
func (c *collector) Revision(Revision) error     { return errNotBlobRecord }
func (c *collector) LayerLink(LayerLink) error   { return errNotBlobRecord }
func (c *collector) Upload(Upload) error         { return errNotBlobRecord }
func (c *collector) Manifest(Manifest) error     { return errNotBlobRecord }

// newWalker returns a walker over the rescan's storage whose blob set is
// the one there is now.
func (r *Rescan) newWalker(ctx context.Context, abort context.CancelCauseFunc) *walker {
	workers := r.workers()
	return &walker{walkState: &walkState{
		ctx:                ctx,
		abort:              abort,
		st:                 r.st,
		trustRevisionPaths: trustRevisionPaths(r.st, r.opts),
		out:                make(chan []any, workers),
		sem:                make(chan struct{}, workers),
		lookupBlob:         r.blob,
		manifests:          newDigestSet(),
		configs:            make(map[digest.Digest]*configEntry),
	}}
}

// WalkRepos reads the named repositories as Walk does (the repository,
// its revisions, tags, tag history, layer links and uploads, and their
// problems) and sends them to sink, checking every link against the blobs
// there are now. It reads no manifest: ReadManifests does, for those the
// caller does not have. A name that is not a repository now is skipped.
func (r *Rescan) WalkRepos(ctx context.Context, names []string, sink Sink) (Stats, error) {
	return r.run(ctx, sink, func(w *walker) {
		w.skipManifests = true
		for _, name := range names {
			repo, ok := r.repos[name]
			if !ok {
				continue
			}
			w.spawn(func(w *walker) {
				w.walkRepo(name, "repositories/"+name, repo.Listed, repo.HasLayers, repo.HasUploads)
			})
		}
	})
}

// ReadManifests reads the manifests ds name, each with its image config,
// as Walk does, and sends them and their problems to sink. A digest with
// no blob now is skipped.
func (r *Rescan) ReadManifests(ctx context.Context, ds []digest.Digest, sink Sink) (Stats, error) {
	return r.run(ctx, sink, func(w *walker) {
		for _, d := range ds {
			w.spawn(func(w *walker) {
				size, state := w.blob(d)
				if state == blobPresent && w.manifests.claim(d) {
					w.readManifest(d, size)
				}
			})
		}
	})
}

// run runs start on a new walker and sends what its workers find to sink,
// as Walk does.
func (r *Rescan) run(ctx context.Context, sink Sink, start func(w *walker)) (Stats, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w := r.newWalker(ctx, cancel)
	go func() {
		start(w)
		w.flush()
		w.wg.Wait()
		close(w.out)
	}()
	stats, err := emit(w.out, sink, r.opts.Progress, cancel)
	stats.FilesRead = int(w.filesRead.Load())
	if err != nil {
		return stats, err
	}
	return stats, context.Cause(ctx)
}
