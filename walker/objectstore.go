package walker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
)

// An object store walked directory by directory costs a request per
// directory and one per entry (a List and a Stat each), most of them for
// directories that hold one link file. S3's listing is flat instead: one
// request returns up to 1000 keys below a prefix, whatever their depth,
// each with its size and time. So a walk of S3 storage first lists
// everything below the v2 root in key ranges side by side, keeps that
// listing in memory and walks it: directories, sizes and times come from
// it, and only link files and manifests are read, by a pool of readers
// that fetches them ahead of the walk (prefetch.go).

// flatListing reports whether the driver's Walk is one flat listing of the
// keys below a prefix with their sizes and times: true of s3aws, whose
// Walk is ListObjectsV2 without a delimiter. The filesystem's, GCS's and
// Azure's Walk is a List and a Stat per entry, no better than the walker's
// own.
func (s *DriverStorage) flatListing() bool { return s.s3 != nil || s.driver.Name() == "s3aws" }

// prepare returns the storage a walk of st reads: for a DriverStorage
// whose driver lists flat, a listing of it made now, with the function
// that stops its readers; st itself otherwise.
func prepare(ctx context.Context, st Storage, opts Options) (Storage, func(), error) {
	ds, ok := st.(*DriverStorage)
	if !ok || !ds.flatListing() {
		return st, func() {}, nil
	}
	l, err := ds.list(ctx)
	if err != nil {
		return nil, nil, err
	}
	l.pre = newPrefetcher(ctx, l, opts.Verify)
	return l, l.pre.close, nil
}

// listing is every file below the v2 root as listed at one moment, sorted
// by key, with sizes and modification times: a Storage that answers List
// and Stat from memory and reads files through its DriverStorage.
type listing struct {
	st    *DriverStorage
	keys  []string // paths relative to the v2 root, sorted
	sizes []int64
	times []int64    // modification times, unix nanoseconds
	etags [][16]byte // the MD5 of the content where the ETag says it (s3list.go); nil when unknown
	pre   *prefetcher
}

// list lists the storage: the keys are split into ranges at directory
// boundaries found by a few shallow listings (the blob prefix directories,
// the repository directories of the first two levels), and the ranges are
// listed side by side, taken in key order so that the blob ranges, with
// the most keys a directory, start first.
func (s *DriverStorage) list(ctx context.Context) (*listing, error) {
	cuts, err := s.cutPoints(ctx)
	if err != nil {
		return nil, err
	}
	ranges := make([]keyRange, len(cuts)+1)
	for i, c := range cuts {
		ranges[i].until = c
		ranges[i+1].after = c
	}
	parts := make([]*listing, len(ranges))
	errs := make([]error, len(ranges))
	next := make(chan int, len(ranges))
	for i := range ranges {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range min(maxListings, len(ranges)) {
		wg.Go(func() {
			for i := range next {
				parts[i], errs[i] = s.listRange(ctx, ranges[i])
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", s.where, err)
		}
	}
	l := &listing{st: s}
	for _, p := range parts {
		l.keys = append(l.keys, p.keys...)
		l.sizes = append(l.sizes, p.sizes...)
		l.times = append(l.times, p.times...)
		if s.s3 != nil {
			l.etags = append(l.etags, p.etags...)
		}
	}
	if len(l.keys) == 0 {
		return nil, fmt.Errorf("%w in %s: nothing below %s (a registry that never stored anything, or the wrong rootdirectory or bucket)", ErrNoStorage, s.where, driverRoot)
	}
	if !slices.IsSorted(l.keys) {
		// A store that lists in another order than S3's bytewise one.
		sort.Sort(byKey{l})
	}
	return l, nil
}

// A keyRange is the keys k with after/ <= k < until/ (either bound absent
// when empty): after and until are directory paths, so that a range holds
// whole directories.
type keyRange struct{ after, until string }

// maxRanges bounds how many ranges a listing is split into; each costs at
// most one listing page more than one flat listing would.
const maxRanges = 64

// maxListings bounds the ranges listed at once: a listing is a small part
// of a walk's requests, and the keys of the pages in flight are held twice
// (as decoded, and as kept).
const maxListings = 8

// maxNamespaces is the most top-level directories of repositories/ that
// are each listed one level further for cut points. Repository names are
// often <team>/<app>, and one team may hold a fifth of a registry's keys:
// cut at the top level only, the medium tree's listing waited half its
// time on one range listed page after page. Where there are more top-level
// names than this, they are fine enough cuts as they are.
const maxNamespaces = 256

// cutPoints returns the directories at which the listing is split, sorted
// as keys below them sort: the blob prefix directories and the repository
// directories (those below the top-level ones too, when there are few),
// spaced so that ranges hold about as many directories each. Small
// storage is not split at all.
func (s *DriverStorage) cutPoints(ctx context.Context) ([]string, error) {
	top, err := s.childNames(ctx, "")
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, name := range top {
		switch name {
		case "blobs":
			algs, err := s.childNames(ctx, "blobs")
			if err != nil {
				return nil, err
			}
			for _, alg := range algs {
				prefixes, err := s.childNames(ctx, "blobs/"+alg)
				if err != nil {
					return nil, err
				}
				for _, x := range prefixes {
					dirs = append(dirs, "blobs/"+alg+"/"+x)
				}
			}
		case "repositories":
			repos, err := s.repositoryCuts(ctx)
			if err != nil {
				return nil, err
			}
			dirs = append(dirs, repos...)
		}
	}
	// Keys below a directory sort as its path with a slash: "a-b/" comes
	// before "a/".
	slices.SortFunc(dirs, func(a, b string) int { return strings.Compare(a+"/", b+"/") })
	n := min(maxRanges, s.req.opts.Concurrency, len(dirs)/16+1)
	var cuts []string
	for i := 1; i < n; i++ {
		cuts = append(cuts, dirs[i*len(dirs)/n])
	}
	return slices.Compact(cuts), nil
}

// repositoryCuts returns the directories of repositories/ to cut the
// listing at: the top-level ones, or when there are at most maxNamespaces
// of them, the directories below each (listed side by side), so that a
// team's namespace of many repositories is no one range.
func (s *DriverStorage) repositoryCuts(ctx context.Context) ([]string, error) {
	names, err := s.childNames(ctx, "repositories")
	if err != nil {
		return nil, err
	}
	if len(names) > maxNamespaces {
		dirs := make([]string, len(names))
		for i, n := range names {
			dirs[i] = "repositories/" + n
		}
		return dirs, nil
	}
	below := make([][]string, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() { below[i], errs[i] = s.childNames(ctx, "repositories/"+n) })
	}
	wg.Wait()
	var dirs []string
	for i, n := range names {
		if errs[i] != nil {
			return nil, errs[i]
		}
		dirs = append(dirs, "repositories/"+n)
		for _, c := range below[i] {
			dirs = append(dirs, "repositories/"+n+"/"+c)
		}
	}
	return dirs, nil
}

// childNames returns the names below dir with one driver List, without
// the Stat per entry of List: whether each is a file does not matter here.
// A directory that does not exist has none.
func (s *DriverStorage) childNames(ctx context.Context, dir string) ([]string, error) {
	paths, err := s.listPaths(ctx, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", driverPath(dir), s.where, err)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = path.Base(p)
	}
	return names, nil
}

// listRange lists the keys of r: with the S3 client when there is one, for
// the ETags, else with the driver's flat Walk. A transient failure is
// retried from the last key seen.
func (s *DriverStorage) listRange(ctx context.Context, r keyRange) (*listing, error) {
	l := &listing{st: s}
	var low, high, resume string // r's bounds as keys; the key to list after
	if r.after != "" {
		// The listing starts after resume. Keys of r.after's siblings
		// named r.after-2 and the like sort before r.after/ and belong
		// to the range before: resuming after r.after+"." rather than
		// r.after skips them on the server (those after r.after+"."
		// itself, names like r.after.v2, are dropped by add).
		low, resume = r.after+"/", r.after+"."
	}
	if r.until != "" {
		high = r.until + "/"
	}
	// add keeps an object of the range and says whether to go on.
	add := func(key string, size int64, mod time.Time, etag [16]byte) bool {
		resume = key
		switch {
		case key < low:
			return true // the end of the range before
		case high != "" && key >= high:
			return false
		}
		l.keys = append(l.keys, key)
		l.sizes = append(l.sizes, size)
		l.times = append(l.times, mod.UnixNano())
		if s.s3 != nil {
			l.etags = append(l.etags, etag)
		}
		return true
	}
	// nextPage counts and paces a listing page after the first, which do
	// counted and paced.
	nextPage := func() error {
		s.req.counts[reqList].Add(1)
		return s.req.pace.wait(ctx)
	}
	err := s.req.do(ctx, reqList, func() error {
		if s.s3 != nil {
			return s.s3.list(ctx, resume, func(o s3Object) bool { return add(o.key, o.size, o.modTime, o.etag) }, nextPage)
		}
		return s.walkRange(ctx, resume, add, nextPage)
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// walkRange lists with the driver's Walk the keys after startAfter, until
// add returns false. It cannot see the pages: it counts one for every
// listPage keys.
func (s *DriverStorage) walkRange(ctx context.Context, startAfter string, add func(string, int64, time.Time, [16]byte) bool, nextPage func() error) error {
	hint := ""
	if startAfter != "" {
		hint = driverPath(startAfter)
	}
	n := 0
	err := s.driver.Walk(ctx, driverRoot, func(fi storagedriver.FileInfo) error {
		if fi.IsDir() {
			return nil
		}
		if n++; n > 1 && (n-1)%listPage == 0 {
			if err := nextPage(); err != nil {
				return err
			}
		}
		if !add(strings.TrimPrefix(fi.Path(), driverRoot+"/"), fi.Size(), fi.ModTime(), [16]byte{}) {
			return storagedriver.ErrFilledBuffer
		}
		return nil
	}, storagedriver.WithStartAfterHint(hint))
	if errors.Is(driverError(err), fs.ErrNotExist) {
		return nil // nothing in the range
	}
	return driverError(err)
}

type byKey struct{ l *listing }

func (b byKey) Len() int           { return len(b.l.keys) }
func (b byKey) Less(i, j int) bool { return b.l.keys[i] < b.l.keys[j] }
func (b byKey) Swap(i, j int) {
	l := b.l
	l.keys[i], l.keys[j] = l.keys[j], l.keys[i]
	l.sizes[i], l.sizes[j] = l.sizes[j], l.sizes[i]
	l.times[i], l.times[j] = l.times[j], l.times[i]
	if l.etags != nil {
		l.etags[i], l.etags[j] = l.etags[j], l.etags[i]
	}
}

// find returns the index of the file at p.
func (l *listing) find(p string) (int, bool) {
	i := l.search(p)
	return i, i < len(l.keys) && l.keys[i] == p
}

// search returns the index of the first key not before p.
func (l *listing) search(p string) int { return sort.SearchStrings(l.keys, p) }

// isDir reports whether some key lies below p.
func (l *listing) isDir(p string) bool {
	prefix := dirPrefix(p)
	i := sort.SearchStrings(l.keys, prefix)
	return i < len(l.keys) && strings.HasPrefix(l.keys[i], prefix)
}

func dirPrefix(dir string) string {
	if dir == "" {
		return ""
	}
	return dir + "/"
}

func (l *listing) modTime(i int) time.Time { return time.Unix(0, l.times[i]).UTC() }

func notFound(op, p string) error { return &fs.PathError{Op: op, Path: p, Err: fs.ErrNotExist} }

// List implements Storage from the listing: an object store has no empty
// directories, so a directory with nothing below it does not exist.
func (l *listing) List(ctx context.Context, dir string) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	prefix := dirPrefix(dir)
	var entries []Entry
	for i := sort.SearchStrings(l.keys, prefix); i < len(l.keys) && strings.HasPrefix(l.keys[i], prefix); {
		rest := l.keys[i][len(prefix):]
		if name, _, deeper := strings.Cut(rest, "/"); deeper {
			entries = append(entries, Entry{Name: name, IsDir: true})
			// Everything below name sorts before name followed by the
			// character after '/'.
			i += sort.SearchStrings(l.keys[i:], prefix+name+"0")
			continue
		}
		entries = append(entries, Entry{Name: rest, Size: l.sizes[i], ModTime: l.modTime(i)})
		i++
	}
	if len(entries) == 0 {
		return nil, notFound("list", dir)
	}
	slices.SortStableFunc(entries, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return entries, nil
}

// Stat implements Storage from the listing.
func (l *listing) Stat(ctx context.Context, p string) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	if i, ok := l.find(p); ok {
		return Entry{Name: path.Base(p), Size: l.sizes[i], ModTime: l.modTime(i)}, nil
	}
	if l.isDir(p) {
		return Entry{Name: path.Base(p), IsDir: true}, nil
	}
	return Entry{}, notFound("stat", p)
}

// ReadFile implements Storage: one GET, unless the file was read ahead. A
// file not in the listing is not read at all.
func (l *listing) ReadFile(ctx context.Context, p string) ([]byte, error) {
	i, err := l.file(p)
	if err != nil {
		return nil, err
	}
	if d, ok := l.provenLink(i); ok {
		return []byte(d), nil
	}
	return l.pre.take(ctx, p, l.sizes[i])
}

// file returns the index of the file at p, or the error reading p gives.
func (l *listing) file(p string) (int, error) {
	i, ok := l.find(p)
	switch {
	case ok:
		return i, nil
	case l.isDir(p):
		return 0, errIsDir
	}
	return 0, notFound("read", p)
}

var (
	_ linkReader = (*listing)(nil)
	_ linkStater = (*listing)(nil)
)

// readLink reads a link file, its time from the listing.
func (l *listing) readLink(ctx context.Context, p string) ([]byte, time.Time, error) {
	i, err := l.file(p)
	if err != nil {
		return nil, time.Time{}, err
	}
	if d, ok := l.provenLink(i); ok {
		return []byte(d), l.modTime(i), nil
	}
	b, err := l.pre.take(ctx, p, l.sizes[i])
	if err != nil {
		return nil, time.Time{}, err
	}
	return b[:min(len(b), maxLinkSize)], l.modTime(i), nil
}

// statLink answers from the listing, without a request.
func (l *listing) statLink(ctx context.Context, p string) (int64, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, err
	}
	i, err := l.file(p)
	if err != nil {
		return 0, time.Time{}, err
	}
	return l.sizes[i], l.modTime(i), nil
}

// read fetches the file at p of the given size: whole, or for a file
// bigger than any link could be where a link belongs, only enough of it to
// tell that it is no link.
func (l *listing) read(ctx context.Context, p string, size int64) ([]byte, error) {
	if size > maxLinkSize && isLinkPath(p) {
		return l.st.readPrefix(ctx, p, maxLinkSize)
	}
	return l.st.ReadFile(ctx, p)
}

func isLinkPath(p string) bool { return strings.HasSuffix(p, "/link") }
