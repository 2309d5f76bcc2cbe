//go:build !linux

package walker

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Elsewhere than Linux, DirStorage reads through the os package, by full
// paths.

type sysRoot struct{}

type sysPath = string

func (s *DirStorage) sysAt(p string) sysPath { return s.full(p) }

func sysReadDir(full string) ([]Entry, error) {
	des, err := os.ReadDir(full) // sorted by name
	if err != nil {
		return nil, err
	}
	entries := make([]Entry, 0, len(des))
	for _, de := range des {
		e := Entry{Name: de.Name(), Symlink: de.Type()&fs.ModeSymlink != 0}
		if de.IsDir() {
			e.IsDir = true
			entries = append(entries, e)
			continue
		}
		// Follow symbolic links, like the filesystem driver.
		fi, err := os.Stat(filepath.Join(full, de.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since listed, or a dangling symlink
		}
		if err != nil {
			return nil, err
		}
		e.IsDir = fi.IsDir()
		if !e.IsDir {
			e.Size = fi.Size()
			e.ModTime = fi.ModTime()
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func sysReadLink(full string) ([]byte, time.Time, error) {
	f, err := os.Open(full)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	if fi.IsDir() {
		return nil, time.Time{}, errIsDir
	}
	b := make([]byte, min(fi.Size(), maxLinkSize))
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, time.Time{}, err
	}
	return b[:n], fi.ModTime(), nil
}

func sysReadFile(full string) ([]byte, error) { return os.ReadFile(full) }

func sysReadFileSized(full string, _ int64) ([]byte, error) { return os.ReadFile(full) }

func sysStatLink(full string) (int64, time.Time, error) {
	fi, err := os.Stat(full)
	if err != nil {
		return 0, time.Time{}, err
	}
	if !fi.Mode().IsRegular() || !readable(fi) {
		return 0, time.Time{}, fs.ErrPermission
	}
	return fi.Size(), fi.ModTime(), nil
}

func sysStatEntry(full, name string) (Entry, error) {
	fi, err := os.Stat(full)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Name: name, IsDir: fi.IsDir(), ModTime: fi.ModTime()}
	if !e.IsDir {
		e.Size = fi.Size()
	}
	return e, nil
}

// sysSoleSubdir says nothing elsewhere than Linux: link counts of
// directories are not the same everywhere.
func sysSoleSubdir(dir, sub string) bool { return false }
