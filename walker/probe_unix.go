//go:build linux || darwin || freebsd || netbsd || openbsd

package walker

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// changeTimes says whether this system gives the change times a Rescan
// needs.
const changeTimes = true

// prober finds the repositories under repositories/ and which of them
// changed since a time, by their directories' listings and the change
// times of their files and directories (see Rescan). It makes the system
// calls itself: a probe of a large registry is hundreds of thousands of
// them, and os's wrappers add one or two to each directory opened.
type prober struct {
	ctx    context.Context
	cancel context.CancelFunc
	root   string // the v2 root, absolute
	since  int64  // unix nanoseconds
	known  map[string]Repository
	reread map[string]bool
	sem    chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	found   map[string]Repository
	changed []string
	err     error
}

// probeRepositories returns every repository under root/repositories and
// the names of those that are new, differ from known, are in reread, or
// have a change at or after since.
func probeRepositories(ctx context.Context, root string, since int64, known map[string]Repository, reread map[string]bool, workers int) (map[string]Repository, []string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := &prober{
		ctx: ctx, cancel: cancel, root: root, since: since, known: known, reread: reread,
		sem: make(chan struct{}, workers), found: map[string]Repository{},
	}
	p.tree("repositories", "")
	p.wg.Wait()
	if p.err != nil {
		return nil, nil, p.err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return p.found, p.changed, nil
}

// spawn runs f on a worker if one is free, else right here, as the
// walker's spawn does.
func (p *prober) spawn(f func()) {
	if p.ctx.Err() != nil {
		return
	}
	select {
	case p.sem <- struct{}{}:
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer func() { <-p.sem }()
			f()
		}()
	default:
		f()
	}
}

// fail stops the probe: a directory of the repositories/ tree that cannot
// be read hides which repositories there are.
func (p *prober) fail(rel string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = fmt.Errorf("%w: read %s: %v", ErrCannotRescan, rel, err)
		p.cancel()
	}
}

// tree lists the directory rel (of repository name, or of a part of one)
// and the directories below it, as Walk's walkRepoTree does.
func (p *prober) tree(rel, name string) {
	if p.ctx.Err() != nil {
		return
	}
	fd, err := openDir(unix.AT_FDCWD, p.root+"/"+rel)
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return // not a directory (walkRepoTree skips those), or removed since its parent was listed
	case err != nil:
		p.fail(rel, err)
		return
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		p.fail(rel, err)
		return
	}
	names, err := readNames(fd)
	if err != nil {
		p.fail(rel, err)
		return
	}
	var manifests, layers, uploads bool
	for _, n := range names {
		switch {
		case n == "_manifests":
			manifests = true // the catalog does not look at what it is
		case n == "_layers":
			layers = isDirAt(fd, n)
		case n == "_uploads":
			uploads = isDirAt(fd, n)
		case !strings.HasPrefix(n, "_"):
			p.spawn(func() { p.tree(rel+"/"+n, path.Join(name, n)) })
		}
	}
	if name == "" || !(manifests || layers || uploads) {
		return
	}
	now := Repository{Name: name, Listed: manifests, HasLayers: layers, HasUploads: uploads}
	old, ok := p.known[name]
	changed := !ok || old != now || p.changedStat(&st) || p.reread[name] || p.repoChanged(fd, now)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.found[name] = now
	if changed {
		p.changed = append(p.changed, name)
	}
}

// openDir opens the directory name, relative to dirfd (or absolute),
// following symbolic links as DirStorage does.
func openDir(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// probeBufs are buffers for readNames: a probe lists tens of thousands of
// directories.
var probeBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// readNames lists the open directory fd, but for . and ..
func readNames(fd int) ([]string, error) {
	var names []string
	bp := probeBufs.Get().(*[]byte)
	defer probeBufs.Put(bp)
	buf := *bp
	for {
		n, err := unix.ReadDirent(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// isDirAt says whether name, in dirfd, is a directory, following a
// symbolic link as DirStorage does.
func isDirAt(dirfd int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dirfd, name, &st, 0) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// repoChanged says whether anything a walk of the repository whose
// directory is open as fd reads changed since p.since; when in doubt, it
// has.
func (p *prober) repoChanged(fd int, r Repository) bool {
	if r.Listed {
		if p.at(fd, "_manifests") != unchanged {
			return true
		}
		if p.linksChanged(fd, "_manifests/revisions") || p.tagsChanged(fd, "_manifests/tags") {
			return true
		}
	}
	if r.HasLayers && p.linksChanged(fd, "_layers") {
		return true
	}
	return r.HasUploads && p.uploadsChanged(fd, "_uploads")
}

// probeState is what a look at one path found.
type probeState int

const (
	unchanged probeState = iota
	changed              // or cannot be looked at: read it again
	missing              // not there (or a file where a directory belongs)
)

func (p *prober) changedStat(st *unix.Stat_t) bool {
	return max(st.Ctim.Nano(), st.Mtim.Nano()) >= p.since
}

// at looks at name, relative to the directory dirfd (or absolute),
// following symbolic links as DirStorage does.
func (p *prober) at(dirfd int, name string) probeState {
	var st unix.Stat_t
	err := unix.Fstatat(dirfd, name, &st, 0)
	switch {
	case err == nil:
		if p.changedStat(&st) {
			return changed
		}
		return unchanged
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return missing
	}
	return changed
}

// climb says whether rel, relative to dirfd, changed; when it is not
// there, whether the nearest directory above it that is changed: removing
// an entry changes the directory that held it. The first component of rel
// was listed in dirfd: if it is gone, something changed.
func (p *prober) climb(dirfd int, rel string) bool {
	for {
		switch p.at(dirfd, rel) {
		case changed:
			return true
		case unchanged:
			return false
		}
		i := strings.LastIndexByte(rel, '/')
		if i < 0 {
			return true
		}
		rel = rel[:i]
	}
}

// list opens the directory rel below dirfd and lists it, when it has not
// changed. A missing directory is no change of its own: the change time of
// the directory above, looked at already, tells whether it went or came.
func (p *prober) list(dirfd int, rel string) (int, []string, probeState) {
	fd, err := openDir(dirfd, rel)
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return -1, nil, missing
	case err != nil:
		return -1, nil, changed
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || p.changedStat(&st) {
		unix.Close(fd)
		return -1, nil, changed
	}
	names, err := readNames(fd)
	if err != nil {
		unix.Close(fd)
		return -1, nil, changed
	}
	return fd, names, unchanged
}

// linksChanged looks at rel/<alg>/<hex>/link, the shape of revisions/ and
// _layers/: each algorithm directory, and each link (or its directory,
// when it holds none: a link removed by an API delete leaves it). A stray
// file in one of them, not being a directory, has no link and is covered
// by the change time of the directory holding it.
func (p *prober) linksChanged(fd int, rel string) bool {
	dfd, algs, state := p.list(fd, rel)
	if state != unchanged {
		return state == changed
	}
	defer unix.Close(dfd)
	for _, alg := range algs {
		afd, hexes, state := p.list(dfd, alg)
		if state == missing && !isDirAt(dfd, alg) {
			continue // a stray file
		}
		if state != unchanged {
			return true
		}
		gone := false
		for _, h := range hexes {
			if p.climb(afd, h+"/link") {
				gone = true
				break
			}
		}
		unix.Close(afd)
		if gone {
			return true
		}
	}
	return false
}

// tagsChanged looks at each tag's index/sha256/, where a push of the tag
// adds history and the garbage collectors remove it. The tag's
// current/link is not looked at: every push of a tag writes the revision
// link of the manifest it names too (the registry puts the manifest before
// it tags it), and linksChanged looks at each of those.
func (p *prober) tagsChanged(fd int, rel string) bool {
	tfd, tags, state := p.list(fd, rel)
	if state != unchanged {
		return state == changed
	}
	defer unix.Close(tfd)
	for _, t := range tags {
		if p.climb(tfd, t+"/index/sha256") {
			return true
		}
	}
	return false
}

// uploadsChanged looks at each upload directory, its data (which every
// chunk appends to) and its startedat.
func (p *prober) uploadsChanged(fd int, rel string) bool {
	ufd, uploads, state := p.list(fd, rel)
	if state != unchanged {
		return state == changed
	}
	defer unix.Close(ufd)
	for _, u := range uploads {
		if p.at(ufd, u) != unchanged || p.at(ufd, u+"/data") == changed || p.at(ufd, u+"/startedat") == changed {
			return true
		}
	}
	return false
}

// shardChanged says whether the blob shard directory root/blobs/<shard>
// changed since: a blob directory made or removed in it changes it.
func shardChanged(root, shard string, since int64) bool {
	p := prober{since: since}
	return p.at(unix.AT_FDCWD, root+"/blobs/"+shard) != unchanged
}
