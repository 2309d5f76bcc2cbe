package walker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
)

// driverRoot is where the registry keeps everything below its driver's root.
const driverRoot = "/docker/registry/v2"

// DriverStorage is registry storage read through one of distribution's
// storage drivers, exactly as the registry reaches it. Its requests are
// bounded, paced, retried and counted as its DriverOptions say.
//
// List costs one driver List plus one Stat per entry. A walk of a store
// whose driver lists a whole tree in one flat listing (S3) does not use
// List: it lists everything once at the start, sizes and times included,
// and reads only the link files and manifests it must, many at once (see
// objectstore.go).
type DriverStorage struct {
	driver storagedriver.StorageDriver
	s3     *s3Lister // for an s3aws driver: the listing with ETags
	where  string    // the store for messages, e.g. `s3 bucket "b", rootdirectory "/r"`
	req    *requester
}

// NewDriverStorage returns the storage of a registry whose driver is d.
func NewDriverStorage(d storagedriver.StorageDriver, opts DriverOptions) *DriverStorage {
	s := &DriverStorage{driver: d, where: d.Name() + " storage", req: newRequester(opts)}
	s.s3, _ = newS3Lister(d)
	return s
}

// OpenConfig reads a registry's config.yml as the registry does (including
// its REGISTRY_* environment overrides, REGISTRY_STORAGE_S3_SECRETKEY and
// the like) and opens its storage driver. It returns the storage and the
// driver's name as the config gives it (e.g. "filesystem", "s3").
func OpenConfig(ctx context.Context, configPath string, opts DriverOptions) (*DriverStorage, string, error) {
	b, err := os.ReadFile(configPath)
	if err != nil {
		return nil, "", fmt.Errorf("read registry config: %w", err)
	}
	cfg, err := parseConfig(b)
	if err != nil {
		return nil, "", fmt.Errorf("parse registry config %q: %w", configPath, err)
	}
	name := cfg.Storage.Type()
	params := cfg.Storage.Parameters()
	d, err := factory.Create(ctx, name, params)
	if err != nil {
		var invalid factory.InvalidStorageDriverError
		if errors.As(err, &invalid) {
			return nil, "", fmt.Errorf("open storage of %q: %w %q (this build has: %s)", configPath, ErrUnknownDriver, name, supportedDrivers)
		}
		return nil, "", fmt.Errorf("open %s storage of %q: %w", name, configPath, err)
	}
	s := NewDriverStorage(d, opts)
	s.where = describeStore(name, params)
	if s.s3 != nil {
		s.s3.keepConnections(s.req.opts.Concurrency)
	}
	return s, name, nil
}

// describeStore names a driver's store for messages: its bucket or
// container and its rootdirectory.
func describeStore(name string, params map[string]any) string {
	s := name + " storage"
	for _, key := range []string{"bucket", "container"} {
		if v, ok := params[key]; ok {
			s = fmt.Sprintf("%s %s %q", name, key, fmt.Sprint(v))
		}
	}
	if v, ok := params["rootdirectory"]; ok && fmt.Sprint(v) != "" {
		s += fmt.Sprintf(", rootdirectory %q", fmt.Sprint(v))
	}
	return s
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

// Requests counts the requests made so far.
func (s *DriverStorage) Requests() Requests { return s.req.requests() }

func driverPath(p string) string {
	if p == "" {
		return driverRoot
	}
	return driverRoot + "/" + p
}

// List implements Storage.
func (s *DriverStorage) List(ctx context.Context, dir string) ([]Entry, error) {
	children, err := s.listPaths(ctx, dir)
	if err != nil {
		return nil, err
	}
	entries := make([]Entry, 0, len(children))
	for _, c := range children {
		var fi storagedriver.FileInfo
		err := s.req.do(ctx, reqStat, func() (err error) {
			fi, err = s.driver.Stat(ctx, c)
			return driverError(err)
		})
		if err != nil {
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

// listPaths is the driver's List: the driver paths of dir's children.
func (s *DriverStorage) listPaths(ctx context.Context, dir string) ([]string, error) {
	var children []string
	err := s.req.do(ctx, reqList, func() (err error) {
		children, err = s.driver.List(ctx, driverPath(dir))
		return driverError(err)
	})
	if err != nil {
		return nil, err
	}
	s.req.count(reqList, pages(len(children))-1)
	return children, nil
}

// Stat implements Storage.
func (s *DriverStorage) Stat(ctx context.Context, p string) (Entry, error) {
	var fi storagedriver.FileInfo
	err := s.req.do(ctx, reqStat, func() (err error) {
		fi, err = s.driver.Stat(ctx, driverPath(p))
		return driverError(err)
	})
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Name: path.Base(fi.Path()), IsDir: fi.IsDir(), ModTime: fi.ModTime()}
	if !e.IsDir {
		e.Size = fi.Size()
	}
	return e, nil
}

// ReadFile implements Storage.
func (s *DriverStorage) ReadFile(ctx context.Context, p string) ([]byte, error) {
	var b []byte
	err := s.req.do(ctx, reqGet, func() (err error) {
		b, err = s.driver.GetContent(ctx, driverPath(p))
		return driverError(err)
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// readPrefix returns at most the first n bytes of the file at p: one GET,
// which reads no further than it must.
func (s *DriverStorage) readPrefix(ctx context.Context, p string, n int64) ([]byte, error) {
	var b []byte
	err := s.req.do(ctx, reqGet, func() error {
		r, err := s.driver.Reader(ctx, driverPath(p), 0)
		if err != nil {
			return driverError(err)
		}
		defer r.Close()
		b, err = io.ReadAll(io.LimitReader(r, n))
		return driverError(err)
	})
	return b, err
}

// notExistError is a driver's PathNotFoundError that errors.Is recognises
// as fs.ErrNotExist.
type notExistError struct{ err error }

func (e notExistError) Error() string   { return e.err.Error() }
func (e notExistError) Unwrap() []error { return []error{fs.ErrNotExist, e.err} }

// driverError makes a driver's errors answer errors.Is: the drivers' base
// wraps every other error in storagedriver.Error, which does not unwrap.
func driverError(err error) error {
	if err == nil {
		return nil
	}
	var nf storagedriver.PathNotFoundError
	if errors.As(err, &nf) {
		return notExistError{err}
	}
	var de storagedriver.Error
	if errors.As(err, &de) && de.Detail != nil {
		return fmt.Errorf("%s: %w", de.DriverName, oneLine(de.Detail))
	}
	return oneLine(err)
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
