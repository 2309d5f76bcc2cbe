//go:build linux || darwin || freebsd || netbsd || openbsd

package walker

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// changeTimes says whether this system gives the change times a Rescan
// needs.
const changeTimes = true

// subdirLinkCounts says whether a directory's link count is 2 plus the
// number of its subdirectories, as on Linux's ext4, XFS and tmpfs (see
// sysSoleSubdir). Other systems count otherwise: there a probe lists.
const subdirLinkCounts = runtime.GOOS == "linux"

// prober finds the repositories under repositories/ and which of them
// changed since a time, by the change times of their files and
// directories, and the names of those directories: the ones an earlier
// walk found, where link counts say they are all there are, else a
// listing (see Rescan). It makes the system calls itself: a probe of a
// large registry is hundreds of thousands of them, and os's wrappers add
// one or two to each directory opened.
//
// It goes in two passes. The first walks the repositories/ tree and looks
// at what it needs no Baseline.Dirs for (each _manifests/); the second,
// with them, at the revisions, layer links, tags/ and uploads of the
// repositories that have not changed so far. The caller reads them from
// its index meanwhile.
type prober struct {
	ctx    context.Context
	cancel context.CancelFunc
	root   string // the v2 root, absolute
	since  int64  // unix nanoseconds
	known  map[string]Repository
	reread map[string]bool
	sem    chan struct{}
	wg     sync.WaitGroup
	// subdirs are the directories of the repositories/ tree the earlier
	// walk found, by the repository or directory holding them ("" for
	// repositories/): repositories, the directories above them, and
	// their _manifests, _layers and _uploads.
	subdirs map[string][]string
	listed  atomic.Int64 // directories listed

	mu      sync.Mutex
	found   map[string]Repository
	changed []string
	pending []Repository // for the second pass
	err     error
}

// probeRepositories returns every repository under root/repositories, the
// names of those that are new, differ from known, are in reread, or have a
// change at or after since, and how many directories it listed. dirs
// (Baseline.Dirs, which may be nil) is called once, after the first pass.
func probeRepositories(ctx context.Context, root string, since int64, known map[string]Repository, dirs func() (map[string]RepoDirs, error), reread map[string]bool, workers int) (map[string]Repository, []string, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := &prober{
		ctx: ctx, cancel: cancel, root: root, since: since, known: known, reread: reread,
		sem: make(chan struct{}, workers), found: map[string]Repository{}, subdirs: treeDirs(known),
	}
	p.tree("repositories", "")
	p.wg.Wait()
	if p.err == nil && ctx.Err() == nil && len(p.pending) > 0 {
		var names map[string]RepoDirs
		if dirs != nil {
			var err error
			if names, err = dirs(); err != nil {
				return nil, nil, 0, fmt.Errorf("read the directories of the earlier walk: %w", err)
			}
		}
		for _, r := range p.pending {
			p.spawn(func() { p.second(r, names[r.Name]) })
		}
		p.wg.Wait()
	}
	if p.err != nil {
		return nil, nil, 0, p.err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, 0, err
	}
	return p.found, p.changed, int(p.listed.Load()), nil
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

// tree looks into the directory rel (of repository name, or of a part of
// one) and the directories below it, as Walk's walkRepoTree does, and at
// what the first pass looks at of a repository.
func (p *prober) tree(rel, name string) {
	if p.ctx.Err() != nil {
		return
	}
	fd, err := openDir(unix.AT_FDCWD, p.root+"/"+rel)
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return // not a directory (walkRepoTree skips those), or removed since its parent was looked into
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
	var known []string
	if !p.changedStat(&st) {
		known = p.subdirs[name]
	}
	names, err := p.names(fd, &st, known, false)
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
	changed := !ok || old != now || p.changedStat(&st) || p.reread[name] || p.firstChanged(fd, now)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.found[name] = now
	switch {
	case changed:
		p.changed = append(p.changed, name)
	case now.Listed || now.HasLayers || now.HasUploads:
		p.pending = append(p.pending, now)
	}
}

// second looks at what the first pass left of repository r, with d, the
// names of its directories the earlier walk found.
func (p *prober) second(r Repository, d RepoDirs) {
	if p.ctx.Err() != nil {
		return
	}
	changed := true // its directory gone or unreadable since the first pass: read it again
	if fd, err := openDir(unix.AT_FDCWD, p.root+"/repositories/"+r.Name); err == nil {
		changed = p.secondChanged(fd, r, d)
		unix.Close(fd)
	}
	if changed {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.changed = append(p.changed, r.Name)
	}
}

// treeDirs returns, by the repository or directory holding them ("" for
// repositories/), the directories of the repositories/ tree that hold the
// repositories known, and their _manifests, _layers and _uploads. A
// _manifests that is not a directory is one too many: it costs a listing.
func treeDirs(known map[string]Repository) map[string][]string {
	subdirs := map[string][]string{}
	seen := map[string]bool{}
	for name, r := range known {
		for _, sub := range []struct {
			name string
			has  bool
		}{{"_manifests", r.Listed}, {"_layers", r.HasLayers}, {"_uploads", r.HasUploads}} {
			if sub.has {
				subdirs[name] = append(subdirs[name], sub.name)
			}
		}
		for dir := name; dir != "" && !seen[dir]; dir = parentDir(dir) {
			seen[dir] = true
			subdirs[parentDir(dir)] = append(subdirs[parentDir(dir)], path.Base(dir))
		}
	}
	return subdirs
}

// parentDir is the repository or directory holding dir, "" for
// repositories/.
func parentDir(dir string) string {
	i := strings.LastIndexByte(dir, '/')
	if i < 0 {
		return ""
	}
	return dir[:i]
}

// names returns the names in the directory open as fd, whose stat is st:
// known, when they are all its subdirectories (see holdsExactly), else its
// listing. known are the subdirectories an earlier walk found in it, nil
// when it changed since (it may then hold others); linkDirs says they are
// revision or layer link directories (see holdsExactly).
func (p *prober) names(fd int, st *unix.Stat_t, known []string, linkDirs bool) ([]string, error) {
	if holdsExactly(fd, st, known, !linkDirs) {
		return known, nil
	}
	p.listed.Add(1)
	return readNames(fd)
}

// holdsExactly says whether the subdirectories of the directory open as
// fd, whose stat is st, are names, no more, no fewer: when its link count
// says it has as many as there are names and each name is a directory
// there (not a symbolic link, which the count leaves out). Then a probe
// need not list it. Listing reads a directory's blocks, which the page
// cache drops soon, where a look by name reads only inodes and directory
// entries the kernel keeps cached; a probe of a large registry with a
// cold page cache read 60,000 directory blocks. What else the directory
// holds is files, which a probe passes over: one coming or going changes
// the directory, whose change time the probe looks at anyway, and what
// is in it changes nothing a walk reads.
//
// A count of no subdirectory proves nothing: file systems that do not
// count them say one number for every directory (1 on btrfs), and 2 would
// pass for none.
//
// Without each, the names are not looked at one by one: they are revision
// or layer link directories, hundreds of thousands in a large registry,
// that the earlier walk found in a directory unchanged since, so they are
// still there and what they were then. A symbolic link among them would
// make the count short by one, which a directory the earlier walk found
// no link in (and did not name) could make up for; but the walk records a
// symlink problem for such a link, and the caller reads its repository
// again every time.
func holdsExactly(fd int, st *unix.Stat_t, names []string, each bool) bool {
	if !subdirLinkCounts || len(names) == 0 || uint64(st.Nlink) != uint64(len(names))+2 {
		return false
	}
	if !each {
		return true
	}
	for _, n := range names {
		var sub unix.Stat_t
		if unix.Fstatat(fd, n, &sub, unix.AT_SYMLINK_NOFOLLOW) != nil || sub.Mode&unix.S_IFMT != unix.S_IFDIR {
			return false
		}
	}
	return true
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

// firstChanged and secondChanged say whether anything a walk of the
// repository whose directory is open as fd reads changed since p.since;
// when in doubt, it has. d are the names of its directories the earlier
// walk found.
func (p *prober) firstChanged(fd int, r Repository) bool {
	return r.Listed && p.at(fd, "_manifests") != unchanged
}

func (p *prober) secondChanged(fd int, r Repository, d RepoDirs) bool {
	if r.HasLayers && p.linksChanged(fd, "_layers", d.Layers) {
		return true
	}
	// tags/ alone: see Rescan for why not what is in it. Gone is no
	// change of its own: _manifests/ tells.
	if r.Listed && (p.linksChanged(fd, "_manifests/revisions", d.Revisions) || p.at(fd, "_manifests/tags") == changed) {
		return true
	}
	return r.HasUploads && p.dirsChanged(fd, "_uploads", d.Uploads, p.uploadChanged)
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

// list opens the directory rel below dirfd and returns its names, when it
// has not changed: known, when they are all its subdirectories, else its
// listing (linkDirs: see names). A missing directory is no change of its
// own: the change time of the directory above, looked at already, tells
// whether it went or came.
func (p *prober) list(dirfd int, rel string, known []string, linkDirs bool) (int, []string, probeState) {
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
	names, err := p.names(fd, &st, known, linkDirs)
	if err != nil {
		unix.Close(fd)
		return -1, nil, changed
	}
	return fd, names, unchanged
}

// sha256Only is what an algorithm directory as the registry writes them
// holds.
var sha256Only = []string{"sha256"}

// linksChanged looks at rel/<alg>/<hex>/link, the shape of revisions/ and
// _layers/: each algorithm directory, and each link (or its directory,
// when it holds none: a link removed by an API delete leaves it). known
// are the <hex> of the sha256 links the earlier walk found. A stray file
// in one of them, not being a directory, has no link and is covered by
// the change time of the directory holding it.
func (p *prober) linksChanged(fd int, rel string, known [][32]byte) bool {
	dfd, algs, state := p.list(fd, rel, sha256Only, false)
	if state != unchanged {
		return state == changed
	}
	defer unix.Close(dfd)
	for _, alg := range algs {
		var names []string
		if alg == "sha256" {
			names = make([]string, len(known))
			for i, k := range known {
				names[i] = hex.EncodeToString(k[:])
			}
		}
		afd, hexes, state := p.list(dfd, alg, names, true)
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

// dirsChanged looks at the directory rel and, with entryChanged, at each
// entry in it; known are the subdirectories the earlier walk found there.
func (p *prober) dirsChanged(fd int, rel string, known []string, entryChanged func(dirfd int, name string) bool) bool {
	dfd, names, state := p.list(fd, rel, known, false)
	if state != unchanged {
		return state == changed
	}
	defer unix.Close(dfd)
	for _, n := range names {
		if entryChanged(dfd, n) {
			return true
		}
	}
	return false
}

// uploadChanged looks at an upload directory, its data (which every chunk
// appends to) and its startedat.
func (p *prober) uploadChanged(dirfd int, u string) bool {
	return p.at(dirfd, u) != unchanged || p.at(dirfd, u+"/data") == changed || p.at(dirfd, u+"/startedat") == changed
}

// shardChanged says whether the blob shard directory root/blobs/<shard>
// changed since: a blob directory made or removed in it changes it.
func shardChanged(root, shard string, since int64) bool {
	p := prober{since: since}
	return p.at(unix.AT_FDCWD, root+"/blobs/"+shard) != unchanged
}
