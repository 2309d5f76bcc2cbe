package walker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"slices"
	"sync"

	"github.com/opencontainers/go-digest"
)

// walkBlobs walks blobs/<alg>/<xx>/<hex>/data, one worker per <xx>
// directory. It reports false when blobs/ itself cannot be read.
func (w *walker) walkBlobs(top Entry) bool {
	if !top.IsDir {
		w.problem(ProblemBadBlobPath, "blobs", "", "", "blobs is a file, not a directory")
		return false
	}
	algs, ok := w.listBlobDir("blobs")
	if !ok {
		return false
	}
	for _, a := range algs {
		algDir := "blobs/" + a.Name
		if !a.IsDir || hexLen(a.Name) == 0 {
			w.problem(ProblemBadBlobPath, algDir, "", "", "%s is not a directory named by a digest algorithm (sha256, sha384, sha512)", algDir)
			continue
		}
		prefixes, ok := w.listBlobDir(algDir)
		if !ok {
			continue
		}
		for _, x := range prefixes {
			prefixDir := algDir + "/" + x.Name
			if !x.IsDir || len(x.Name) != 2 || !isLowerHex(x.Name) {
				w.problem(ProblemBadBlobPath, prefixDir, "", "", "%s is not a directory named by two hex digits", prefixDir)
				continue
			}
			if w.listShard != nil && !w.listShard(a.Name, x.Name) {
				continue
			}
			w.spawn(func(w *walker) { w.walkBlobPrefix(a.Name, x.Name, prefixDir) })
		}
	}
	return true
}

func (w *walker) walkBlobPrefix(alg, prefix, prefixDir string) {
	dirs, held, ok := w.listBlobDirHeld(prefixDir)
	if !ok {
		return
	}
	if held != nil {
		defer held.close()
	}
	var found []blobEntry
	var other map[digest.Digest]int64
	for _, h := range dirs {
		if w.ctx.Err() != nil {
			return
		}
		blobDir := prefixDir + "/" + h.Name
		d, ok := digestFromPath(alg, h.Name)
		if !h.IsDir || !ok || h.Name[:2] != prefix {
			w.problem(ProblemBadBlobPath, blobDir, "", "", "%s is not a directory named by a %s digest starting with %q", blobDir, alg, prefix)
			continue
		}
		if w.knownBlob != nil && w.knownBlob(d) {
			continue
		}
		if !w.verify {
			// The registry stats data by its path and never lists the
			// directory; only a missing data file needs the listing below.
			var e Entry
			var err error
			if held != nil {
				e, err = held.stat(h.Name + "/data")
			} else {
				e, err = w.st.Stat(w.ctx, blobDir+"/data")
			}
			if err == nil && !e.IsDir {
				if !w.send(Blob{Digest: d, Size: e.Size, ModifiedAt: e.ModTime}) {
					return
				}
				found, other = addBlob(found, other, d, e.Size)
				continue
			}
		}
		entries, ok := w.listBlobDir(blobDir)
		if !ok {
			continue
		}
		var data *Entry
		for i, e := range entries {
			switch {
			case e.Name == "data" && !e.IsDir:
				data = &entries[i]
			case e.Name == "data":
				w.problem(ProblemBadBlobPath, blobDir+"/data", "", d, "blob data is a directory")
			default:
				w.problem(ProblemStrayFile, blobDir+"/"+e.Name, "", d, "stray %s in a blob directory, where only data belongs", e.Name)
			}
		}
		if data == nil {
			w.problem(ProblemBadBlobPath, blobDir, "", d, "blob directory has no data file: the registry treats the blob as absent")
			continue
		}
		if !w.send(Blob{Digest: d, Size: data.Size, ModifiedAt: data.ModTime}) {
			return
		}
		found, other = addBlob(found, other, d, data.Size)
	}
	w.blobMu.Lock()
	defer w.blobMu.Unlock()
	w.blobList = append(w.blobList, found...)
	if len(other) > 0 && w.blobOther == nil {
		w.blobOther = map[digest.Digest]int64{}
	}
	for d, n := range other {
		w.blobOther[d] = n
	}
}

// addBlob adds blob d to the blobs found in one prefix directory.
func addBlob(found []blobEntry, other map[digest.Digest]int64, d digest.Digest, size int64) ([]blobEntry, map[digest.Digest]int64) {
	if key, ok := SHA256Key(d); ok {
		return append(found, blobEntry{key: key, size: size}), other
	}
	if other == nil {
		other = map[digest.Digest]int64{}
	}
	other[d] = size
	return found, other
}

// listBlobDirHeld is listBlobDir holding the directory open, as
// walker.listHeld does.
func (w *walker) listBlobDirHeld(dir string) ([]Entry, heldDir, bool) {
	dh, can := w.st.(dirHolder)
	if !can {
		entries, ok := w.listBlobDir(dir)
		return entries, nil, ok
	}
	entries, held, err := dh.listHeld(w.ctx, dir)
	if err != nil {
		w.blobListError(dir, err)
		return nil, nil, false
	}
	return entries, held, true
}

// listBlobDir lists a directory below blobs/.
func (w *walker) listBlobDir(dir string) ([]Entry, bool) {
	entries, err := w.st.List(w.ctx, dir)
	if err != nil {
		w.blobListError(dir, err)
		return nil, false
	}
	return entries, true
}

// blobState is what the walk knows of a blob.
type blobState int

const (
	blobAbsent blobState = iota
	blobPresent
	blobUnknown // in a part of blobs/ that could not be read
)

// blob returns the size and state of blob d. The blob set answers unless
// part of blobs/ was unreadable; then a blob not in the set is looked up
// directly, so that an unreadable directory never makes a link look
// dangling.
func (w *walker) blob(d digest.Digest) (int64, blobState) {
	if w.lookupBlob != nil {
		if size, ok := w.lookupBlob(d); ok {
			return size, blobPresent
		}
		return 0, blobAbsent
	}
	if size, ok := w.blobs.lookup(d); ok {
		return size, blobPresent
	}
	if !w.blobsIncomplete.Load() {
		return 0, blobAbsent
	}
	e, err := w.st.Stat(w.ctx, blobDataPath(d))
	switch {
	case err == nil && !e.IsDir:
		return e.Size, blobPresent
	case errors.Is(err, fs.ErrNotExist):
		return 0, blobAbsent
	}
	return 0, blobUnknown
}

// blobEntry is a sha256 blob in 40 bytes.
type blobEntry struct {
	key  [32]byte
	size int64
}

// blobSet is every blob of the storage with its size: a sorted array for
// sha256 (40 bytes a blob) and a map for the rare others. It is read-only
// once built, so workers share it without locking.
type blobSet struct {
	sha256 []blobEntry
	// prefixes are the first 8 bytes of each sha256 key, big-endian: the
	// binary search runs over them, 8 bytes an entry in one array, and
	// compares whole keys only where prefixes are equal. A walk looks up
	// a blob for every link, half a million times on a large registry.
	prefixes []uint64
	other    map[digest.Digest]int64
}

func newBlobSet(list []blobEntry, other map[digest.Digest]int64) *blobSet {
	slices.SortFunc(list, func(a, b blobEntry) int { return bytes.Compare(a.key[:], b.key[:]) })
	prefixes := make([]uint64, len(list))
	for i := range list {
		prefixes[i] = binary.BigEndian.Uint64(list[i].key[:8])
	}
	return &blobSet{sha256: slices.Clip(list), prefixes: prefixes, other: other}
}

// lookup returns the size of blob d and whether it exists.
func (s *blobSet) lookup(d digest.Digest) (int64, bool) {
	if key, ok := SHA256Key(d); ok {
		p := binary.BigEndian.Uint64(key[:8])
		i, _ := slices.BinarySearch(s.prefixes, p) // the first with prefix p, if any
		for ; i < len(s.prefixes) && s.prefixes[i] == p; i++ {
			if s.sha256[i].key == key {
				return s.sha256[i].size, true
			}
		}
		return 0, false
	}
	n, ok := s.other[d]
	return n, ok
}

// SHA256Key returns the 32 bytes of a sha256 digest in its canonical
// text ("sha256:" and 64 lowercase hex digits, which sort as the bytes
// do), or false for any other text: "sha256:AB.." is a different text
// from "sha256:ab.." to SQLite.
func SHA256Key(d digest.Digest) (key [32]byte, ok bool) {
	s := string(d)
	const prefix = "sha256:"
	if len(s) != len(prefix)+64 || s[:len(prefix)] != prefix {
		return key, false
	}
	h := s[len(prefix):]
	for i := range key {
		if key[i], ok = HexByte(h[2*i : 2*i+2]); !ok {
			return key, false
		}
	}
	return key, true
}

// HexByte returns the byte that two lowercase hex digits spell, as a blob
// shard's name ("ab") does, or false.
func HexByte(s string) (byte, bool) {
	if len(s) != 2 {
		return 0, false
	}
	hi, lo := hexValue[s[0]], hexValue[s[1]]
	if hi > 15 || lo > 15 {
		return 0, false
	}
	return hi<<4 | lo, true
}

// digestSet is a concurrent set of digests, compact for sha256.
type digestSet struct {
	mu     sync.Mutex
	sha256 map[[32]byte]struct{}
	other  map[digest.Digest]struct{}
}

func newDigestSet() *digestSet {
	return &digestSet{sha256: map[[32]byte]struct{}{}, other: map[digest.Digest]struct{}{}}
}

// claim adds d and reports whether it was not there yet.
func (s *digestSet) claim(d digest.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key, ok := SHA256Key(d); ok {
		if _, seen := s.sha256[key]; seen {
			return false
		}
		s.sha256[key] = struct{}{}
		return true
	}
	if _, seen := s.other[d]; seen {
		return false
	}
	s.other[d] = struct{}{}
	return true
}

// blobListError reports a directory below blobs/ that cannot be listed:
// the set of blobs is then incomplete, and a link to a blob not in it may
// not be dangling.
func (w *walker) blobListError(dir string, err error) {
	if !errors.Is(err, fs.ErrNotExist) {
		w.blobsIncomplete.Store(true)
	}
	w.readError(dir, "", err)
}
