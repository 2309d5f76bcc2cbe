//go:build linux

package walker

import (
	"context"
	"encoding/binary"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The walk of a large registry is millions of small file system calls, and
// the os package adds to each: os.Open registers every file with the
// runtime's poller (an epoll_ctl that fails for regular files, and fcntls),
// os.ReadFile reads once more to see the end, os.ReadDir does the same
// registration for each directory. On Linux DirStorage calls the system
// directly instead: a directory is openat, getdents, close; a small file is
// openat, fstat, read, close. That halves the calls of a walk.

// The kernel resolves a path one component at a time, and a registry
// path is a dozen components deep, half of them the storage root's own
// (/var/lib/registry/docker/registry/v2). DirStorage therefore holds the
// root open and names every file relative to it: in a profile of a build,
// looking up path components was a tenth of all the time spent.

// sysRoot is DirStorage's open root directory, opened on first use and
// closed when the DirStorage is garbage collected. Should the root not
// open, paths are resolved from the current directory as full paths.
type sysRoot struct {
	once sync.Once
	fd   int
}

// sysPath is a file below the root as the system calls take it.
type sysPath struct {
	dirfd int
	rel   string // relative to dirfd, or the full path for AT_FDCWD
	root  string // for messages
}

// String is the full path, for messages.
func (p sysPath) String() string {
	if p.dirfd == unix.AT_FDCWD {
		return p.rel
	}
	if p.rel == "." {
		return p.root
	}
	return p.root + "/" + p.rel
}

// sysAt names p, a slash-separated path below the root, for the system
// calls.
func (s *DirStorage) sysAt(p string) sysPath {
	s.sys.once.Do(func() {
		fd, err := openNoEINTR(s.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_PATH)
		if err != nil {
			s.sys.fd = unix.AT_FDCWD
			return
		}
		s.sys.fd = fd
		runtime.AddCleanup(s, func(fd int) { unix.Close(fd) }, fd)
	})
	if s.sys.fd == unix.AT_FDCWD {
		return sysPath{dirfd: unix.AT_FDCWD, rel: s.full(p)}
	}
	if p == "" {
		p = "."
	}
	return sysPath{dirfd: s.sys.fd, rel: p, root: s.root}
}

// direntBufs recycles getdents buffers: 32 KiB holds any registry directory
// but blobs/sha256/<xx> and large _layers in one or two calls.
var direntBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// sysReadDir lists the directory full, sorted by name, as List does: file
// entries are stat'ed (following symbolic links, like the filesystem
// driver), directories are not.
func sysReadDir(p sysPath) ([]Entry, error) {
	fd, err := openAtNoEINTR(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p.String(), Err: err}
	}
	defer unix.Close(fd)
	return readDirFd(fd, p)
}

var _ dirHolder = (*DirStorage)(nil)

// listHeld implements dirHolder: the descriptor the directory was listed
// with is kept for the files below it.
func (s *DirStorage) listHeld(ctx context.Context, dir string) ([]Entry, heldDir, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	p := s.sysAt(dir)
	fd, err := openAtNoEINTR(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: p.String(), Err: err}
	}
	entries, err := readDirFd(fd, p)
	if err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	return entries, &sysHeld{fd: fd, path: p.String()}, nil
}

// sysHeld is a directory held open by its descriptor.
type sysHeld struct {
	fd   int
	path string
}

func (h *sysHeld) at(name string) sysPath { return sysPath{dirfd: h.fd, rel: name, root: h.path} }

func (h *sysHeld) readLink(name string) ([]byte, time.Time, error) { return sysReadLink(h.at(name)) }

func (h *sysHeld) statLink(name string) (int64, time.Time, error) { return sysStatLink(h.at(name)) }

func (h *sysHeld) stat(name string) (Entry, error) { return sysStatEntry(h.at(name), path.Base(name)) }

func (h *sysHeld) close() { unix.Close(h.fd) }

// readDirFd lists the open directory fd, which is p.
func readDirFd(fd int, p sysPath) ([]Entry, error) {
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	buf := *bp

	var entries []Entry
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: p.String(), Err: err}
		}
		if n <= 0 {
			break
		}
		for b := buf[:n]; len(b) > 0; {
			// struct linux_dirent64: ino u64, off i64, reclen u16, type u8, name.
			if len(b) < 19 {
				break
			}
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				break
			}
			typ := b[18]
			name := b[19:reclen]
			if i := strings.IndexByte(string(name), 0); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			if string(name) == "." || string(name) == ".." {
				continue
			}
			e := Entry{Name: string(name), IsDir: typ == unix.DT_DIR, Symlink: typ == unix.DT_LNK}
			if typ == unix.DT_UNKNOWN { // a file system that does not say: ask
				var st unix.Stat_t
				e.Symlink = fstatatNoEINTR(fd, e.Name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
			}
			if typ != unix.DT_DIR {
				var st unix.Stat_t
				if err := fstatatNoEINTR(fd, e.Name, &st, 0); err != nil {
					if err == unix.ENOENT {
						continue // removed since listed, or a dangling symlink
					}
					return nil, &fs.PathError{Op: "stat", Path: p.String() + "/" + e.Name, Err: err}
				}
				e.IsDir = st.Mode&unix.S_IFMT == unix.S_IFDIR
				if !e.IsDir {
					e.Size = st.Size
					e.ModTime = statMtime(&st)
				}
			}
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return entries, nil
}

// sysReadLink reads at most maxLinkSize bytes of the file full and returns
// them with its modification time; a directory gives errIsDir.
func sysReadLink(p sysPath) ([]byte, time.Time, error) {
	fd, err := openAtNoEINTR(p, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		full := p.String()
		return nil, time.Time{}, &fs.PathError{Op: "open", Path: full, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := fstatNoEINTR(fd, &st); err != nil {
		return nil, time.Time{}, &fs.PathError{Op: "stat", Path: p.String(), Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return nil, time.Time{}, errIsDir
	}
	b, err := readFull(fd, p, min(st.Size, maxLinkSize), false)
	return b, statMtime(&st), err
}

// sysReadFile returns the whole content of the file full.
func sysReadFile(p sysPath) ([]byte, error) {
	fd, err := openAtNoEINTR(p, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p.String(), Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := fstatNoEINTR(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: p.String(), Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return nil, &fs.PathError{Op: "read", Path: p.String(), Err: unix.EISDIR}
	}
	return readFull(fd, p, st.Size, true)
}

// sysReadFileSized returns the whole content of the file at p, read into
// a buffer of size and one byte: the byte tells, in the same read, whether
// the file has grown. A directory fails the read with EISDIR.
func sysReadFileSized(p sysPath, size int64) ([]byte, error) {
	fd, err := openAtNoEINTR(p, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p.String(), Err: err}
	}
	defer unix.Close(fd)
	return readFull(fd, p, max(size, 0), true)
}

// readFull reads size bytes from fd. With all, it reads on to the end of
// the file should it have grown since it was stat'ed: a buffer one byte
// larger than the size tells, in the same read, that the end was reached,
// for a read of a regular file returns less than asked only at its end.
func readFull(fd int, p sysPath, size int64, all bool) ([]byte, error) {
	want := int(size)
	if all {
		want++
	}
	b := make([]byte, 0, max(want, 1))
	for {
		if len(b) == cap(b) {
			if !all {
				return b, nil
			}
			b = slices.Grow(b, max(cap(b), 512))
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: p.String(), Err: err}
		}
		if n == 0 {
			return b, nil
		}
		asked := cap(b) - len(b)
		b = b[:len(b)+n]
		if !all && len(b) == want || all && n < asked {
			return b, nil
		}
	}
}

// sysStat stats p, following symbolic links.
func sysStat(p sysPath) (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := fstatatNoEINTR(p.dirfd, p.rel, &st, 0); err != nil {
		return st, &fs.PathError{Op: "stat", Path: p.String(), Err: err}
	}
	return st, nil
}

func statMtime(st *unix.Stat_t) time.Time {
	return time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
}

func openAtNoEINTR(p sysPath, flags int) (int, error) {
	for {
		fd, err := unix.Openat(p.dirfd, p.rel, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

func openNoEINTR(p string, flags int) (int, error) {
	for {
		fd, err := unix.Open(p, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

func fstatNoEINTR(fd int, st *unix.Stat_t) error {
	for {
		if err := unix.Fstat(fd, st); err != unix.EINTR {
			return err
		}
	}
}

func fstatatNoEINTR(dirfd int, name string, st *unix.Stat_t, flags int) error {
	for {
		if err := unix.Fstatat(dirfd, name, st, flags); err != unix.EINTR {
			return err
		}
	}
}

// sysStatLink returns the size and modification time of the regular file
// p, or fs.ErrPermission when it is not one or this process may not read
// it.
func sysStatLink(p sysPath) (int64, time.Time, error) {
	st, err := sysStat(p)
	if err != nil {
		return 0, time.Time{}, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || !readableBits(fs.FileMode(st.Mode&0o777), st.Uid, st.Gid) {
		return 0, time.Time{}, fs.ErrPermission
	}
	return st.Size, statMtime(&st), nil
}

// sysStatEntry stats p, following symbolic links, as an Entry named name.
func sysStatEntry(p sysPath, name string) (Entry, error) {
	st, err := sysStat(p)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Name: name, IsDir: st.Mode&unix.S_IFMT == unix.S_IFDIR, ModTime: statMtime(&st)}
	if !e.IsDir {
		e.Size = st.Size
	}
	return e, nil
}

// sysSoleSubdir reports whether the directory sub is the only subdirectory
// of dir. A directory's link count is 2 plus its subdirectories on ext4,
// XFS and tmpfs (btrfs and some others say 1, and ext4 too past 65,000
// subdirectories): 3 says there is exactly one, and sub being a directory
// says which. Two stats of inodes the kernel keeps cached, where a listing
// reads the directory's blocks.
func sysSoleSubdir(dir, sub sysPath) bool {
	st, err := sysStat(dir)
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Nlink != 3 {
		return false
	}
	st, err = sysStat(sub)
	return err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}
