package walker

import (
	"context"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
)

// A walk of a listing reads each revision link and tag link, the manifest
// a revision names and the config of an image, one after the other within
// a repository. On an object store each read waits tens of milliseconds,
// so the prefetcher reads them ahead, as many at once as the storage's
// concurrency allows: every link the walk will read, in key order (the
// order the walk goes), and as soon as a revision link is read the
// manifest it names, and as soon as a manifest is read its image config,
// both before more links. The walk takes what it needs; what it asks for
// before the prefetcher got to it, it reads itself.
//
// It reads only what the walk reads (the same rules pick the files), so
// it adds no request; and it holds at most prefetchBudget bytes the walk
// has not taken yet, so it cannot run away from a slow walk.
type prefetcher struct {
	l      *listing
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	cond     *sync.Cond
	items    map[string]*fetch // by path; taken once the walk had it
	plan     []planned         // what to read, in the order the walk wants it
	next     int               // the next of plan to read
	urgent   []string          // manifests and configs to read before more links
	inflight int               // reads by workers under way
	held     int64             // bytes read and not taken yet
	heldN    int               // files read and not taken yet
}

const (
	prefetchBudget      = 64 << 20
	prefetchBudgetFiles = 1 << 16
)

type fetchKind int

const (
	fetchLink     fetchKind = iota
	fetchRevision           // a revision link: its manifest follows
	fetchManifest           // a manifest: its image config follows
	fetchConfig
)

type fetchState int

const (
	fetchQueued fetchState = iota
	fetchRunning
	fetchDone
)

// fetch is one file being read ahead.
type fetch struct {
	kind   fetchKind
	digest digest.Digest // a manifest's
	state  fetchState
	done   chan struct{} // closed when body and err are set
	body   []byte
	err    error
	held   bool // counted in held until taken
}

// taken marks a path the walk has had, so that no worker reads it again.
var taken = &fetch{state: fetchDone}

// planned is a file to read ahead, named by its index in the listing.
type planned struct {
	key    int
	kind   fetchKind
	digest digest.Digest // a manifest's
}

func newPrefetcher(ctx context.Context, l *listing, verify bool) *prefetcher {
	ctx, cancel := context.WithCancel(ctx)
	pf := &prefetcher{l: l, ctx: ctx, cancel: cancel, items: map[string]*fetch{}}
	pf.cond = sync.NewCond(&pf.mu)
	manifests := map[int]bool{}
	for i, k := range l.keys {
		if !linkToRead(k, l.sizes[i], verify) {
			continue
		}
		d, proven := l.provenLink(i)
		switch {
		case !proven && isRevisionLink(k):
			pf.plan = append(pf.plan, planned{key: i, kind: fetchRevision})
		case !proven:
			pf.plan = append(pf.plan, planned{key: i, kind: fetchLink})
		case isRevisionLink(k):
			// The link needs no read; its manifest does, and comes
			// where the link's read would have.
			if m, ok := l.manifestToRead(d); ok && !manifests[m] {
				manifests[m] = true
				pf.plan = append(pf.plan, planned{key: m, kind: fetchManifest, digest: d})
			}
		}
	}
	for range l.st.req.opts.Concurrency {
		pf.wg.Go(pf.work)
	}
	return pf
}

// close stops the workers and waits for them.
func (pf *prefetcher) close() {
	pf.cancel()
	pf.mu.Lock()
	pf.cond.Broadcast()
	pf.mu.Unlock()
	pf.wg.Wait()
}

func (pf *prefetcher) work() {
	for {
		p, it, ok := pf.nextRead()
		if !ok {
			return
		}
		i, _ := pf.l.find(p)
		body, err := pf.l.read(pf.ctx, p, pf.l.sizes[i])
		if err == nil {
			// Before publishing, so that a worker never finds nothing to
			// do while this one is about to queue more.
			pf.follow(it, body)
		}
		pf.mu.Lock()
		it.body, it.err, it.state, it.held = body, err, fetchDone, true
		pf.held += int64(len(body))
		pf.heldN++
		pf.inflight--
		close(it.done)
		pf.cond.Broadcast()
		pf.mu.Unlock()
	}
}

// nextRead returns the next file to read ahead, or false when there is
// none left or the walk is over.
func (pf *prefetcher) nextRead() (string, *fetch, bool) {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	for {
		if pf.ctx.Err() != nil {
			return "", nil, false
		}
		if pf.held < prefetchBudget && pf.heldN < prefetchBudgetFiles {
			for len(pf.urgent) > 0 {
				p := pf.urgent[0]
				pf.urgent = pf.urgent[1:]
				if it := pf.items[p]; it != nil && it.state == fetchQueued {
					it.state = fetchRunning
					pf.inflight++
					return p, it, true
				}
			}
			for pf.next < len(pf.plan) {
				next := pf.plan[pf.next]
				pf.next++
				p := pf.l.keys[next.key]
				if _, seen := pf.items[p]; seen {
					continue // the walk read it itself, or it was queued already
				}
				it := &fetch{kind: next.kind, digest: next.digest, state: fetchRunning, done: make(chan struct{})}
				pf.items[p] = it
				pf.inflight++
				return p, it, true
			}
			if pf.inflight == 0 {
				return "", nil, false // nothing left, and nothing will be queued
			}
		}
		pf.cond.Wait()
	}
}

// follow queues what the walk reads next after this file: a revision's
// manifest, an image's config.
func (pf *prefetcher) follow(it *fetch, body []byte) {
	switch it.kind {
	case fetchRevision:
		d, err := ParseLink(body[:min(len(body), maxLinkSize)])
		if err != nil {
			return
		}
		if _, ok := pf.l.manifestToRead(d); ok {
			pf.queue(blobDataPath(d), fetchManifest, d)
		}
	case fetchManifest:
		if cfg, ok := imageConfigOf(it.digest, body); ok {
			if i, ok := pf.l.find(blobDataPath(cfg)); ok && pf.l.sizes[i] <= maxConfigSize {
				pf.queue(blobDataPath(cfg), fetchConfig, cfg)
			}
		}
	}
}

// manifestToRead returns the index of the blob of manifest d if the walk
// reads it: when it is there and not too big to be a manifest.
func (l *listing) manifestToRead(d digest.Digest) (int, bool) {
	i, ok := l.find(blobDataPath(d))
	return i, ok && l.sizes[i] <= maxManifestSize
}

// imageConfigOf returns the config of an image manifest whose config the
// walk reads: the same test as readManifest's.
func imageConfigOf(d digest.Digest, body []byte) (digest.Digest, bool) {
	m, _ := ParseManifest(d, body)
	if m.Kind != KindImage || !validDigest(m.Config) {
		return "", false
	}
	for _, r := range m.References {
		if r.Kind == RefConfig && isImageConfigType(r.MediaType) {
			return m.Config, true
		}
	}
	return "", false
}

func (pf *prefetcher) queue(p string, kind fetchKind, d digest.Digest) {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	if _, seen := pf.items[p]; seen {
		return
	}
	pf.items[p] = &fetch{kind: kind, digest: d, state: fetchQueued, done: make(chan struct{})}
	pf.urgent = append(pf.urgent, p)
	pf.cond.Signal()
}

// take returns the content of the file at p, of the given size: what was
// read ahead, or else read now.
func (pf *prefetcher) take(ctx context.Context, p string, size int64) ([]byte, error) {
	pf.mu.Lock()
	it := pf.items[p]
	if it == nil || it == taken || it.state == fetchQueued {
		// Not read ahead: read it here, and mark it so no worker does.
		pf.items[p] = taken
		pf.mu.Unlock()
		body, err := pf.l.read(ctx, p, size)
		if err == nil && isRevisionLink(p) {
			pf.follow(&fetch{kind: fetchRevision}, body)
		}
		return body, err
	}
	pf.mu.Unlock()
	select {
	case <-it.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	pf.mu.Lock()
	defer pf.mu.Unlock()
	pf.items[p] = taken
	if it.held {
		it.held = false
		pf.held -= int64(len(it.body))
		pf.heldN--
		pf.cond.Broadcast()
	}
	return it.body, it.err
}

// linkToRead reports whether the walk reads the link at key, of the given
// size: every revision link and tag current link; layer links and tag
// history entries only when verifying, or when their size is not that of
// the digest their path names (readDigestLink).
func linkToRead(key string, size int64, verify bool) bool {
	tail, ok := repoTail(key)
	if !ok {
		return false
	}
	switch {
	case len(tail) == 4 && tail[0] == "_manifests" && tail[1] == "revisions":
		_, ok := digestFromPath(tail[2], tail[3])
		return ok
	case len(tail) == 4 && tail[0] == "_manifests" && tail[1] == "tags" && tail[3] == "current":
		return true
	case len(tail) == 3 && tail[0] == "_layers":
		d, ok := digestFromPath(tail[1], tail[2])
		return ok && (verify || size != int64(len(d)))
	case len(tail) == 6 && tail[0] == "_manifests" && tail[1] == "tags" && tail[3] == "index":
		d, ok := digestFromPath(tail[4], tail[5])
		return ok && (verify || size != int64(len(d)))
	}
	return false
}

// isRevisionLink reports whether key is a repository's revision link.
func isRevisionLink(key string) bool {
	tail, ok := repoTail(key)
	return ok && len(tail) == 4 && tail[0] == "_manifests" && tail[1] == "revisions"
}

// repoTail splits a link path repositories/<name>/<tail>/link after the
// repository name, which ends before the first component starting with
// "_" (the walk never looks for repositories below one).
func repoTail(key string) ([]string, bool) {
	rest, ok := strings.CutPrefix(key, "repositories/")
	if !ok {
		return nil, false
	}
	rest, ok = strings.CutSuffix(rest, "/link")
	if !ok {
		return nil, false
	}
	parts := strings.Split(rest, "/")
	for i, c := range parts {
		if strings.HasPrefix(c, "_") {
			return parts[i:], i > 0
		}
	}
	return nil, false
}
