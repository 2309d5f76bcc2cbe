package walker

import (
	"time"

	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"

	"github.com/distribution/distribution/v3/configuration"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
)

// driverRoot is where the registry keeps everything below its driver's root.
const driverRoot = "/docker/registry/v2"

// DriverStorage is registry storage read through one of distribution's
// storage drivers, exactly as the registry reaches it. List costs one driver
// List plus one Stat per entry.
type DriverStorage struct {
	driver storagedriver.StorageDriver
}

// NewDriverStorage returns the storage of a registry whose driver is d.
func NewDriverStorage(d storagedriver.StorageDriver) *DriverStorage {
	return &DriverStorage{driver: d}
}

// OpenConfig reads a registry's config.yml as the registry does (including
// its REGISTRY_* environment overrides) and opens its storage driver. It
// returns the storage and the driver's name (e.g. "filesystem").
func OpenConfig(ctx context.Context, configPath string) (*DriverStorage, string, error) {
	b, err := os.ReadFile(configPath)
	if err != nil {
		return nil, "", fmt.Errorf("read registry config: %w", err)
	}
	cfg, err := parseConfig(b)
	if err != nil {
		return nil, "", fmt.Errorf("parse registry config %q: %w", configPath, err)
	}
	name := cfg.Storage.Type()
	d, err := factory.Create(ctx, name, cfg.Storage.Parameters())
	if err != nil {
		var invalid factory.InvalidStorageDriverError
		if errors.As(err, &invalid) {
			return nil, "", fmt.Errorf("open storage of %q: %w %q (this build has: %s)", configPath, ErrUnknownDriver, name, supportedDrivers)
		}
		return nil, "", fmt.Errorf("open %s storage of %q: %w", name, configPath, err)
	}
	return NewDriverStorage(d), name, nil
}

// parseConfig is configuration.Parse, which panics when the file and the
// environment name two storage drivers.
func parseConfig(b []byte) (cfg *configuration.Configuration, err error) {
	defer func() {
		if r := recover(); r != nil {
			cfg, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return configuration.Parse(bytes.NewReader(b))
}

// Driver is the storage driver read.
func (s *DriverStorage) Driver() storagedriver.StorageDriver { return s.driver }

func driverPath(p string) string {
	if p == "" {
		return driverRoot
	}
	return driverRoot + "/" + p
}

// List implements Storage.
func (s *DriverStorage) List(ctx context.Context, dir string) ([]Entry, error) {
	children, err := s.driver.List(ctx, driverPath(dir))
	if err != nil {
		return nil, driverError(err)
	}
	entries := make([]Entry, 0, len(children))
	for _, c := range children {
		fi, err := s.driver.Stat(ctx, c)
		if err != nil {
			err = driverError(err)
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since List
			}
			return nil, err
		}
		e := Entry{Name: path.Base(c), IsDir: fi.IsDir()}
		if !e.IsDir {
			e.Size = fi.Size()
			e.ModTime = fi.ModTime()
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	return entries, nil
}

// Stat implements Storage.
func (s *DriverStorage) Stat(ctx context.Context, p string) (Entry, error) {
	fi, err := s.driver.Stat(ctx, driverPath(p))
	if err != nil {
		return Entry{}, driverError(err)
	}
	e := Entry{Name: path.Base(fi.Path()), IsDir: fi.IsDir(), ModTime: fi.ModTime()}
	if !e.IsDir {
		e.Size = fi.Size()
	}
	return e, nil
}

// ReadFile implements Storage.
func (s *DriverStorage) ReadFile(ctx context.Context, p string) ([]byte, error) {
	b, err := s.driver.GetContent(ctx, driverPath(p))
	if err != nil {
		return nil, driverError(err)
	}
	return b, nil
}

// notExistError is a driver's PathNotFoundError that errors.Is recognises
// as fs.ErrNotExist.
type notExistError struct{ err error }

func (e notExistError) Error() string   { return e.err.Error() }
func (e notExistError) Unwrap() []error { return []error{fs.ErrNotExist, e.err} }

// driverError makes a driver's errors answer errors.Is: the drivers' base
// wraps every other error in storagedriver.Error, which does not unwrap.
func driverError(err error) error {
	var nf storagedriver.PathNotFoundError
	if errors.As(err, &nf) {
		return notExistError{err}
	}
	var de storagedriver.Error
	if errors.As(err, &de) && de.Detail != nil {
		return fmt.Errorf("%s: %w", de.DriverName, de.Detail)
	}
	return err
}

var _ linkReader = (*DriverStorage)(nil)

// readLink is a Stat and a read: as many requests as a listing and a read,
// and the same result as DirStorage's.
func (s *DriverStorage) readLink(ctx context.Context, p string) ([]byte, time.Time, error) {
	e, err := s.Stat(ctx, p)
	if err != nil {
		return nil, time.Time{}, err
	}
	if e.IsDir {
		return nil, time.Time{}, errIsDir
	}
	b, err := s.ReadFile(ctx, p)
	if err != nil {
		return nil, time.Time{}, err
	}
	return b[:min(len(b), maxLinkSize)], e.ModTime, nil
}
