package gen

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// writer puts files under v2 (<root>/docker/registry/v2) the way the
// registry's filesystem driver leaves them: files 0666 and directories 0777
// before the umask, each file's modification (and access) time set to when
// the registry would have written it. Files are created exclusively: two
// writes of one path would be a generator bug, and fail loudly.
type writer struct {
	v2  string
	dry bool

	mu      sync.Mutex
	blobDir [256]bool // blobs/sha256/<xx> made
}

func (w *writer) start(st *Stats) error {
	if w.dry {
		return nil
	}
	rw := &repoWriter{w: w, dirs: map[string]bool{}}
	for _, dir := range []string{filepath.Join(w.v2, "repositories"), filepath.Join(w.v2, "blobs", "sha256")} {
		if err := rw.mkdirAll(dir); err != nil {
			return err
		}
	}
	st.add(rw.stats)
	return nil
}

// repoWriter is one worker's handle: its counts and the directories it
// knows exist, forgotten after each repository so memory stays bounded.
type repoWriter struct {
	w     *writer
	stats Stats
	dirs  map[string]bool
}

func (w *writer) repoWriter() *repoWriter {
	rw := &repoWriter{w: w, dirs: map[string]bool{}}
	rw.forget()
	return rw
}

// forget drops the directories remembered, but for v2/repositories and
// above, which start made: mkdirAll never climbs past them.
func (rw *repoWriter) forget() {
	clear(rw.dirs)
	for dir := filepath.Join(rw.w.v2, "repositories"); ; dir = filepath.Dir(dir) {
		rw.dirs[dir] = true
		if filepath.Dir(dir) == dir {
			break
		}
	}
}

// write writes one repository and the blobs first uploaded to it. It
// returns the counts and the shared manifests that have a revision link
// here (counted once for the whole tree by the caller).
func (rw *repoWriter) write(s *repoState) (Stats, []*manifest, error) {
	rw.stats = Stats{}
	rw.forget()
	var live []*manifest
	base := filepath.Join(rw.w.v2, "repositories", filepath.FromSlash(s.name))
	linked := map[digest.Digest]bool{}

	for d, at := range s.layers {
		if err := rw.link(filepath.Join(base, "_layers", "sha256", d.Encoded()), d, at); err != nil {
			return rw.stats, nil, err
		}
		linked[d] = true
		rw.stats.LayerLinks++
	}
	if s.listed {
		rw.stats.Repositories++
		// Both stay even when emptied, as on the filesystem driver.
		for _, dir := range []string{"revisions/sha256", "tags"} {
			if err := rw.mkdirAll(filepath.Join(base, "_manifests", filepath.FromSlash(dir))); err != nil {
				return rw.stats, nil, err
			}
		}
		current := map[digest.Digest]bool{}
		for _, ts := range s.tags {
			current[ts.current] = true
		}
		for d, rev := range s.revs {
			dir := filepath.Join(base, "_manifests", "revisions", "sha256", d.Encoded())
			if rev.deleted {
				if err := rw.mkdirAll(dir); err != nil {
					return rw.stats, nil, err
				}
				continue
			}
			if err := rw.link(dir, d, rev.at); err != nil {
				return rw.stats, nil, err
			}
			linked[d] = true
			rw.stats.Revisions++
			if !current[d] {
				rw.stats.Untagged++
			}
			if rev.m.shared {
				live = append(live, rev.m)
			} else {
				countManifest(&rw.stats, rev.m)
			}
		}
		for name, ts := range s.tags {
			dir := filepath.Join(base, "_manifests", "tags", name)
			if err := rw.link(filepath.Join(dir, "current"), ts.current, ts.at); err != nil {
				return rw.stats, nil, err
			}
			for d, at := range ts.history {
				if err := rw.link(filepath.Join(dir, "index", "sha256", d.Encoded()), d, at); err != nil {
					return rw.stats, nil, err
				}
				linked[d] = true
			}
			rw.stats.Tags++
			rw.stats.TagLinks++
			rw.stats.IndexLinks += len(ts.history)
			if len(ts.history) > 1 {
				rw.stats.MovedTags++
			}
		}
	} else {
		rw.stats.Abandoned++
	}
	for d, b := range s.own {
		if err := rw.blob(d, b.data, b.at); err != nil {
			return rw.stats, nil, err
		}
		if !linked[d] {
			rw.stats.OrphanBlobs++
		}
	}
	for _, u := range s.uploads {
		if err := rw.upload(filepath.Join(base, "_uploads", u.uuid), u); err != nil {
			return rw.stats, nil, err
		}
	}
	return rw.stats, live, nil
}

// upload writes an unfinished upload as the registry leaves it: startedat,
// the data received so far, and the hash state at offset 0 and after the
// data.
func (rw *repoWriter) upload(dir string, u upload) error {
	rw.stats.Uploads++
	type file struct {
		path string
		data []byte
		at   time.Time
	}
	dataAt := u.started.Add(2 * time.Second)
	files := []file{
		{"startedat", []byte(u.started.Format(time.RFC3339)), u.started},
		{"hashstates/sha256/0", hashState(nil), u.started.Add(time.Second)},
		{"data", u.data, dataAt},
	}
	if len(u.data) > 0 {
		files = append(files, file{"hashstates/sha256/" + strconv.Itoa(len(u.data)), hashState(u.data), dataAt})
	}
	for _, f := range files {
		if err := rw.file(filepath.Join(dir, filepath.FromSlash(f.path)), f.data, f.at); err != nil {
			return err
		}
	}
	return nil
}

// blob writes blobs/sha256/<xx>/<hex>/data.
func (rw *repoWriter) blob(d digest.Digest, data []byte, at time.Time) error {
	hex := d.Encoded()
	rw.stats.Blobs++
	if rw.w.dry {
		return rw.file("", data, at)
	}
	shard := filepath.Join(rw.w.v2, "blobs", "sha256", hex[:2])
	if err := rw.w.mkdirShard(&rw.stats, shard, hex); err != nil {
		return err
	}
	dir := filepath.Join(shard, hex)
	if err := os.Mkdir(dir, 0o777); err != nil {
		return fmt.Errorf("create blob directory: %w", err)
	}
	rw.stats.Dirs++
	rw.stats.Files++
	rw.stats.Bytes += int64(len(data))
	return writeFile(filepath.Join(dir, "data"), data, at)
}

// mkdirShard makes blobs/sha256/<xx> once for the whole tree.
func (w *writer) mkdirShard(st *Stats, shard, hex string) error {
	n, err := strconv.ParseUint(hex[:2], 16, 8)
	if err != nil {
		return fmt.Errorf("blob digest %q: %w", hex, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.blobDir[n] {
		return nil
	}
	if err := os.Mkdir(shard, 0o777); err != nil {
		return fmt.Errorf("create blob directory: %w", err)
	}
	w.blobDir[n] = true
	st.Dirs++
	return nil
}

// link writes dir/link holding d, exactly "sha256:<hex>".
func (rw *repoWriter) link(dir string, d digest.Digest, at time.Time) error {
	rw.stats.LinkFiles++
	return rw.file(filepath.Join(dir, "link"), []byte(d), at)
}

// file writes data to path with modification time at, making its
// directory first.
func (rw *repoWriter) file(path string, data []byte, at time.Time) error {
	rw.stats.Files++
	rw.stats.Bytes += int64(len(data))
	if rw.w.dry {
		return nil
	}
	if err := rw.mkdirAll(filepath.Dir(path)); err != nil {
		return err
	}
	return writeFile(path, data, at)
}

// mkdirAll makes dir and its missing parents, remembering what exists. A
// parent another worker made first (two repositories under one
// organization) is fine. A dry run makes nothing.
func (rw *repoWriter) mkdirAll(dir string) error {
	if rw.w.dry || rw.dirs[dir] {
		return nil
	}
	// Make the parent first when it is not known to exist, rather than
	// failing on the child and retrying: most directories here are new.
	if parent := filepath.Dir(dir); !rw.dirs[parent] && parent != dir {
		if err := rw.mkdirAll(parent); err != nil {
			return err
		}
	}
	switch err := os.Mkdir(dir, 0o777); {
	case err == nil:
		rw.stats.Dirs++
	case errors.Is(err, fs.ErrExist):
		// Made by another repository's worker, or before generation.
	default:
		return fmt.Errorf("create directory: %w", err)
	}
	rw.dirs[dir] = true
	return nil
}
