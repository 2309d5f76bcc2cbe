package walker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
)

// Options tune a walk. The zero value is ready to use.
type Options struct {
	// Workers bounds how many directories are read at once. Zero means
	// runtime.NumCPU()*4; it is capped at maxWorkers.
	Workers int
	// Progress, if set, is called from time to time (at most every
	// progressEvery) and once at the end, from the goroutine that calls
	// the Sink.
	Progress func(Progress)
	// Verify lists every link and blob directory to report stray files
	// in them. Without it the walk opens a link file (or stats a blob's
	// data) by its known path and lists the directory only when that
	// file is missing: the registry itself never lists those directories
	// and ignores anything else in them, so the records are the same and
	// only ProblemStrayFile reports about such files are skipped. It also
	// reads every link file (see ReadRevisionLinks).
	Verify bool
	// ReadRevisionLinks reads every revision link, as Verify does. Without
	// either, a revision link of the length of the digest its path names
	// is only stat'ed and taken to hold that digest, as layer links and
	// tag history entries are: the registry writes every link with the
	// digest of its path, so only a link edited by hand (an alias of the
	// same length, ProblemRevisionAlias) reads otherwise. The garbage
	// collector sets it: an alias changes what it must keep. (On object
	// storage links are proven by their ETags and read either way.)
	ReadRevisionLinks bool
}

const (
	maxWorkers    = 256
	progressEvery = 250 * time.Millisecond
	// maxManifestSize is the registry's limit on a manifest it accepts
	// (handlers.maxManifestBodySize); a bigger "manifest" is not read.
	maxManifestSize = 4 << 20
	// maxConfigSize bounds the image config blobs read into memory.
	maxConfigSize = 32 << 20
)

// Walk reads the whole registry storage st and sends what it finds to sink:
// first every blob, then every repository with its revisions, manifests,
// tags, tag history, layer links and uploads. Anomalies become Problems and
// the walk goes on; it fails only when the storage root cannot be listed,
// when neither repositories/ nor blobs/ can be read (ErrUnreadableStorage),
// when sink returns an error (returned as is), or when ctx is done. The
// Stats count what was sent, also when an error is returned.
//
// Manifests that share a config share its *ImageConfig: a Sink must not
// modify it.
func Walk(ctx context.Context, st Storage, sink Sink, opts Options) (Stats, error) {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.NumCPU() * 4
	}
	workers = min(workers, maxWorkers)

	st, release, err := prepare(ctx, st, opts)
	if err != nil {
		return Stats{}, err
	}
	defer release()
	top, err := st.List(ctx, "")
	if err != nil {
		return Stats{}, fmt.Errorf("list registry storage root: %w", err)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w := &walker{walkState: &walkState{
		ctx:                ctx,
		abort:              cancel,
		st:                 st,
		verify:             opts.Verify,
		trustRevisionPaths: trustRevisionPaths(st, opts),
		out:                make(chan []any, workers),
		sem:                make(chan struct{}, workers),
		manifests:          newDigestSet(),
		configs:            make(map[digest.Digest]*configEntry),
	}}
	var runErr error
	go func() {
		runErr = w.run(top)
		close(w.out)
	}()

	stats, sinkErr := emit(w.out, sink, opts.Progress, cancel)
	// w.out is closed: every worker has returned and runErr is set.
	stats.FilesRead = int(w.filesRead.Load())
	if sinkErr != nil {
		return stats, sinkErr
	}
	if err := context.Cause(ctx); err != nil {
		return stats, err
	}
	return stats, runErr
}

// walker is one worker's handle on a walk: the shared state, and the
// records this worker has found and not yet handed to the emitter.
//
// Records travel in batches because the emitter (the database writer) is
// the slowest part of a build: with one channel send per record, workers
// waited on it and woke it up again a million times a walk. A worker's
// batch keeps its records in the order it found them, which is all the
// Sink's order guarantee needs: a repository and everything naming it are
// found by the same worker.
type walker struct {
	*walkState
	batch []any
}

// batchSize is the most records a worker holds before handing them on.
const batchSize = 256

// walkState is the state of one walk shared by its workers.
type walkState struct {
	ctx    context.Context
	abort  context.CancelCauseFunc // stops the walk with an error that no problem record can stand for
	st     Storage
	verify bool // list link and blob directories; see Options.Verify
	// trustRevisionPaths stats revision links of the right length rather
	// than reading them; see Options.ReadRevisionLinks.
	trustRevisionPaths bool
	out                chan []any // batches of records for the emitter
	sem                chan struct{}
	wg                 sync.WaitGroup

	blobMu    sync.Mutex
	blobList  []blobEntry // collected during the blob phase
	blobOther map[digest.Digest]int64
	blobs     *blobSet // read-only once the blob phase is over
	// blobsIncomplete is set when part of blobs/ could not be listed.
	blobsIncomplete atomic.Bool

	manifests *digestSet // manifest digests claimed for reading

	configMu    sync.Mutex
	configs     map[digest.Digest]*configEntry // at most maxConfigsKept
	configOrder []digest.Digest                // configs' keys, oldest first

	filesRead atomic.Int64

	// Set by a Rescan, which reads only what changed: listShard says
	// whether to list a blobs/<alg>/<xx> directory, knownBlob whether a
	// blob there is one the earlier scan had (blobs are written once, so
	// it is not looked at again), lookupBlob answers for the blob set,
	// which a Rescan does not hold, and skipManifests keeps repository
	// walks from reading manifests, which the Rescan reads itself once it
	// knows which are new.
	listShard     func(alg, prefix string) bool
	knownBlob     func(d digest.Digest) bool
	lookupBlob    func(d digest.Digest) (int64, bool)
	skipManifests bool
}

// run walks blobs, then repositories, so that every link can be checked
// against the complete set of blobs without keeping the links in memory.
func (w *walker) run(top []Entry) error {
	has := map[string]Entry{}
	for _, e := range top {
		has[e.Name] = e
	}

	blobsOK := true
	if e, ok := has["blobs"]; ok {
		blobsOK = w.walkBlobs(e)
	}
	w.flush()
	w.wg.Wait()
	w.blobs = newBlobSet(w.blobList, w.blobOther)
	w.blobList, w.blobOther = nil, nil

	reposOK := true
	if e, ok := has["repositories"]; ok {
		reposOK = w.walkRepoTree("repositories", "", e)
	}
	w.flush()
	w.wg.Wait()

	if !blobsOK && !reposOK {
		return fmt.Errorf("walk registry storage: %w: neither repositories/ nor blobs/ can be read", ErrUnreadableStorage)
	}
	return nil
}

// spawn runs f on a worker, with a walker of its own, if one is free, else
// right here with w: a worker that finds more work never waits for a free
// worker, so the walk cannot deadlock however deep the tree.
func (w *walker) spawn(f func(w *walker)) {
	if w.ctx.Err() != nil {
		return
	}
	select {
	case w.sem <- struct{}{}:
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer func() { <-w.sem }()
			task := &walker{walkState: w.walkState}
			f(task)
			task.flush()
		}()
	default:
		f(w)
	}
}

// send adds a record to the worker's batch, handing the batch to the
// emitter when it is full; false means the walk is stopping.
func (w *walker) send(rec any) bool {
	if w.batch == nil {
		w.batch = make([]any, 0, batchSize)
	}
	w.batch = append(w.batch, rec)
	if len(w.batch) == batchSize {
		return w.flush()
	}
	return w.ctx.Err() == nil
}

// flush hands the worker's batch to the emitter; false means the walk is
// stopping.
func (w *walker) flush() bool {
	if len(w.batch) == 0 {
		return w.ctx.Err() == nil
	}
	batch := w.batch
	w.batch = nil
	select {
	case w.out <- batch:
		return true
	case <-w.ctx.Done():
		return false
	}
}

func (w *walker) problem(kind ProblemKind, path, repo string, d digest.Digest, format string, args ...any) {
	w.send(Problem{Kind: kind, Path: path, Repo: repo, Digest: d, Message: fmt.Sprintf(format, args...)})
}

// list lists dir. A directory that does not exist (removed meanwhile, or an
// optional one) gives ok false silently; any other error is a problem.
func (w *walker) list(dir, repo string) ([]Entry, bool) {
	entries, err := w.st.List(w.ctx, dir)
	if err != nil {
		w.readError(dir, repo, err)
		return nil, false
	}
	return entries, true
}

// listHeld lists dir as list does and, when the storage can, holds it open
// for reading the files below it (held is then not nil and must be
// closed).
func (w *walker) listHeld(dir, repo string) (entries []Entry, held heldDir, ok bool) {
	dh, can := w.st.(dirHolder)
	if !can {
		entries, ok = w.list(dir, repo)
		return entries, nil, ok
	}
	entries, held, err := dh.listHeld(w.ctx, dir)
	if err != nil {
		w.readError(dir, repo, err)
		return nil, nil, false
	}
	return entries, held, true
}

// readFile reads a file and counts it.
func (w *walker) readFile(p, repo string) ([]byte, bool) {
	b, err := w.st.ReadFile(w.ctx, p)
	return w.read(p, repo, b, err)
}

// readBlob is readFile for a blob whose size the pass over blobs/ gave.
func (w *walker) readBlob(p string, size int64) ([]byte, bool) {
	sr, ok := w.st.(sizedReader)
	if !ok {
		return w.readFile(p, "")
	}
	b, err := sr.readFileSized(w.ctx, p, size)
	return w.read(p, "", b, err)
}

// read counts a file read, or records why it could not be.
func (w *walker) read(p, repo string, b []byte, err error) ([]byte, bool) {
	if err != nil {
		w.readError(p, repo, err)
		return nil, false
	}
	w.filesRead.Add(1)
	return b, true
}

func (w *walker) readError(p, repo string, err error) {
	switch {
	case w.ctx.Err() != nil, errors.Is(err, fs.ErrNotExist):
	case errors.Is(err, ErrStorageRefused), errors.Is(err, ErrStorageUnavailable):
		w.abort(fmt.Errorf("read %s: %w", p, err))
	default:
		w.problem(ProblemUnreadable, p, repo, "", "read %s: %v", p, err)
	}
}

// emit calls the sink for every record until out is closed. After a sink
// error it cancels the walk and drains out, so that no worker is left
// blocked.
func emit(out <-chan []any, sink Sink, progress func(Progress), cancel context.CancelCauseFunc) (Stats, error) {
	var (
		stats   Stats
		sinkErr error
		tick    <-chan time.Time
		last    Progress
	)
	snapshot := func() Progress {
		return Progress{Repos: stats.Repos, Manifests: stats.Manifests, Blobs: stats.Blobs, Problems: stats.Problems}
	}
	if progress != nil {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case batch, ok := <-out:
			if !ok {
				if progress != nil {
					progress(snapshot())
				}
				return stats, sinkErr
			}
			for _, rec := range batch {
				if sinkErr != nil {
					break
				}
				if err := dispatch(sink, rec, &stats); err != nil {
					sinkErr = err
					cancel(err)
				}
			}
		case <-tick:
			if p := snapshot(); p != last && sinkErr == nil {
				last = p
				progress(p)
			}
		}
	}
}

func dispatch(sink Sink, rec any, stats *Stats) error {
	switch r := rec.(type) {
	case Repository:
		stats.Repos++
		return sink.Repository(r)
	case Tag:
		stats.Tags++
		return sink.Tag(r)
	case TagHistory:
		return sink.TagHistory(r)
	case Revision:
		stats.Revisions++
		return sink.Revision(r)
	case LayerLink:
		stats.LayerLinks++
		return sink.LayerLink(r)
	case Upload:
		stats.Uploads++
		return sink.Upload(r)
	case Blob:
		stats.Blobs++
		stats.BlobBytes += r.Size
		return sink.Blob(r)
	case Manifest:
		stats.Manifests++
		return sink.Manifest(r)
	case Problem:
		stats.Problems++
		return sink.Problem(r)
	}
	return fmt.Errorf("emit record: unexpected %T", rec)
}

// trustRevisionPaths says whether a walk of st with opts stats revision
// links rather than reading them (Options.ReadRevisionLinks). On an
// object store's listing a link is proven by its ETag or read ahead
// anyway, and the read of a revision link is what starts the read of its
// manifest there.
func trustRevisionPaths(st Storage, opts Options) bool {
	_, readAhead := st.(*listing)
	return !opts.Verify && !opts.ReadRevisionLinks && !readAhead
}
