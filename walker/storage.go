package walker

import (
	"context"
	"time"
)

// Storage is what the walker reads: a tree of directories and files rooted
// at docker/registry/v2, with paths like "repositories/org/app/_manifests".
// Both a local directory and distribution's storage drivers satisfy it.
//
// Implementations return an error satisfying errors.Is(err, fs.ErrNotExist)
// for a path that does not exist.
type Storage interface {
	// List returns the entries directly below dir, sorted by name. Size and
	// ModTime are set for files; for directories they may be zero.
	List(ctx context.Context, dir string) ([]Entry, error)
	// Stat returns the entry at path.
	Stat(ctx context.Context, path string) (Entry, error)
	// ReadFile returns the whole content of a small file.
	ReadFile(ctx context.Context, path string) ([]byte, error)
}

// Entry is a directory entry.
type Entry struct {
	Name    string
	IsDir   bool
	Size    int64
	ModTime time.Time
	// Symlink says the entry is a symbolic link, which List follows as
	// the filesystem driver does: IsDir, Size and ModTime are its
	// target's. Only DirStorage has them.
	Symlink bool
}

// Remover is storage that can delete: the deleter's storage executor and the
// garbage collector use it. Remove deletes path and everything below it,
// like the registry's driver Delete; removing what does not exist is not an
// error. Both DirStorage and DriverStorage implement it, and refuse any path
// outside blobs/ and repositories/.
type Remover interface {
	Storage
	Remove(ctx context.Context, path string) error
}
