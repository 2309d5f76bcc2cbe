package walker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"
)

// DirStorage is registry storage in a local directory, the v2 root
// (<rootdirectory>/docker/registry/v2), read with plain os calls: much faster
// than going through the filesystem storage driver. Like that driver it
// follows symbolic links.
type DirStorage struct {
	root string
	sys  sysRoot
}

// NewDirStorage returns a DirStorage rooted at dir, which must be the v2 root
// itself. OpenRoot finds that root from any directory on the way to it.
func NewDirStorage(dir string) *DirStorage {
	return &DirStorage{root: dir}
}

// OpenRoot finds the registry storage at or below dir: the registry's
// rootdirectory, or any of docker, docker/registry or docker/registry/v2 in
// it. A directory that is a v2 root by its contents (repositories/ or blobs/)
// is accepted wherever it lies. An empty v2 directory, a fresh registry, is
// valid. It returns an error wrapping ErrNoStorage when there is no layout.
func OpenRoot(dir string) (*DirStorage, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open registry storage %q: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("open registry storage: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open registry storage: %q is not a directory", dir)
	}

	// Candidates in order: the layout below dir, then dir as a part of it.
	var candidates []string
	candidates = append(candidates, filepath.Join(abs, "docker", "registry", "v2"))
	switch filepath.Base(abs) {
	case "docker":
		candidates = append(candidates, filepath.Join(abs, "registry", "v2"))
	case "registry":
		candidates = append(candidates, filepath.Join(abs, "v2"))
	case "v2":
		candidates = append(candidates, abs)
	}
	for _, c := range candidates {
		ok, err := isDir(c)
		if err != nil {
			return nil, fmt.Errorf("open registry storage: %w", err)
		}
		if ok {
			return NewDirStorage(c), nil
		}
	}
	if looksLikeV2(abs) {
		return NewDirStorage(abs), nil
	}
	return nil, fmt.Errorf("%w under %q: expected docker/registry/v2 (with repositories/ or blobs/)", ErrNoStorage, dir)
}

func isDir(p string) (bool, error) {
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fi.IsDir(), nil
}

func looksLikeV2(dir string) bool {
	for _, sub := range []string{"repositories", "blobs"} {
		if ok, _ := isDir(filepath.Join(dir, sub)); ok {
			return true
		}
	}
	return false
}

// Root is the absolute path of the v2 root.
func (s *DirStorage) Root() string { return s.root }

func (s *DirStorage) full(p string) string {
	if p == "" {
		return s.root
	}
	return filepath.Join(s.root, filepath.FromSlash(p))
}

// List implements Storage.
func (s *DirStorage) List(ctx context.Context, dir string) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return sysReadDir(s.sysAt(dir))
}

// Stat implements Storage.
func (s *DirStorage) Stat(ctx context.Context, p string) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	name := filepath.Base(s.root)
	if p != "" {
		name = path.Base(p)
	}
	return sysStatEntry(s.sysAt(p), name)
}

// ReadFile implements Storage.
func (s *DirStorage) ReadFile(ctx context.Context, p string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return sysReadFile(s.sysAt(p))
}

// sizedReader is storage that reads a file whose size the walk already
// knows (a blob, stat'ed in the pass over blobs/) without asking for it
// again: one system call fewer for each manifest and image config.
type sizedReader interface {
	// readFileSized returns the whole content of the file at p, which
	// was size bytes when last seen; one that has grown or shrunk since
	// is still read whole.
	readFileSized(ctx context.Context, p string, size int64) ([]byte, error)
}

var _ sizedReader = (*DirStorage)(nil)

func (s *DirStorage) readFileSized(ctx context.Context, p string, size int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return sysReadFileSized(s.sysAt(p), size)
}

// maxLinkSize bounds what readLink reads: a link holds one digest.
const maxLinkSize = 4096

// linkReader is storage that reads a small file and its modification time
// in one go. The walker opens link files by their known path with it
// rather than listing each link directory first.
type linkReader interface {
	// readLink returns the content (at most maxLinkSize bytes, enough to
	// tell a bad link) and modification time of the file at p. A
	// directory at p gives errIsDir.
	readLink(ctx context.Context, p string) ([]byte, time.Time, error)
}

var _ linkReader = (*DirStorage)(nil)

func (s *DirStorage) readLink(ctx context.Context, p string) ([]byte, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return nil, time.Time{}, err
	}
	return sysReadLink(s.sysAt(p))
}

// dirHolder is storage that can list a directory and hold it open, so that
// the files below it are found from there: a link file two path components
// below its <alg>/ directory instead of a dozen below the storage root.
type dirHolder interface {
	// listHeld lists dir as List does and returns it held open.
	listHeld(ctx context.Context, dir string) ([]Entry, heldDir, error)
}

// heldDir is a directory held open; names are relative to it, and the
// methods answer as linkReader, linkStater and Storage.Stat do.
type heldDir interface {
	readLink(name string) ([]byte, time.Time, error)
	statLink(name string) (int64, time.Time, error)
	stat(name string) (Entry, error)
	close()
}

// linkStater is storage that can tell, without opening a file, its size,
// its modification time and whether this process may read it.
type linkStater interface {
	// statLink returns the size and modification time of the regular
	// file at p, or an error when it is not one or is not readable.
	statLink(ctx context.Context, p string) (int64, time.Time, error)
}

var _ linkStater = (*DirStorage)(nil)

func (s *DirStorage) statLink(ctx context.Context, p string) (int64, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, err
	}
	return sysStatLink(s.sysAt(p))
}

// subdirProber is storage that can tell, without reading a directory's
// entries, that a directory holds one subdirectory and no other.
type subdirProber interface {
	// soleSubdir reports whether dir's only subdirectory is name, from
	// the directories' link counts. false says nothing: the caller lists.
	soleSubdir(ctx context.Context, dir, name string) bool
}

var _ subdirProber = (*DirStorage)(nil)

func (s *DirStorage) soleSubdir(ctx context.Context, dir, name string) bool {
	return ctx.Err() == nil && sysSoleSubdir(s.sysAt(dir), s.sysAt(dir+"/"+name))
}
