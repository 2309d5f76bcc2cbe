package registrytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // the drivers the registry is configured with
	_ "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws"
	"github.com/sirupsen/logrus"

	"github.com/regsql/regsql/internal/s3test"
)

// Backend is the storage a test registry keeps its content in.
type Backend string

const (
	// Filesystem is the filesystem driver on a directory in t.TempDir().
	Filesystem Backend = "filesystem"
	// S3 is the s3 driver on a bucket of its own in a versitygw server
	// (internal/s3test) on 127.0.0.1, below rootdirectory /registry.
	S3 Backend = "s3"
)

// Backends are the backends every suite that reads the storage runs
// against.
func Backends() []Backend { return []Backend{Filesystem, S3} }

// ForEachBackend runs f as a subtest named after each backend.
func ForEachBackend(t *testing.T, f func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(string(b), func(t *testing.T) { f(t, b) })
	}
}

// s3Root is the rootdirectory of the s3 driver in the bucket: a prefix, as
// registries sharing a bucket use.
const s3Root = "/registry"

// Registry is a distribution registry running in this process, serving
// the OCI distribution API on 127.0.0.1 with filesystem or S3 storage. It
// embeds the Client that talks to it, so reg.Push, reg.Tags and the rest
// are at hand.
type Registry struct {
	*Client
	backend    Backend
	s3         *s3test.Server
	bucket     string
	root       string
	configPath string
	config     []byte
	driver     storagedriver.StorageDriver
	server     *httptest.Server
	app        *handlers.App
	scratch    string // removed by Close when New made it
	restoreLog func()
}

// Option changes how a Registry is started.
type Option func(*settings)

type settings struct {
	backend       Backend
	root          string
	maxEntries    int
	log           io.Writer
	logFormat     string
	notifications string
	s3            *s3test.Server // for the S3 backend
	bucket        string
	from          string // a storage tree to start from
}

// WithStorageFrom starts the registry on a copy of the storage tree in dir
// (a filesystem rootdirectory, holding docker/registry/v2): copied into
// its directory, or uploaded into its bucket object by object. Two
// registries started from one tree hold the same files, whatever their
// backends.
func WithStorageFrom(dir string) Option {
	return func(s *settings) { s.from = dir }
}

// WithBackend makes the registry store in backend b; Filesystem is the
// default. The S3 backend starts its own versitygw, so it skips the test
// (or fails it under CI=true) when versitygw is not built.
func WithBackend(b Backend) Option {
	return func(s *settings) { s.backend = b }
}

// WithRoot makes the registry store into dir (its storage rootdirectory)
// instead of a fresh temporary directory: to start on an existing tree, or
// to keep what a program pushed.
func WithRoot(dir string) Option {
	return func(s *settings) { s.root = dir }
}

// WithCatalogMaxEntries sets catalog.maxentries, the largest catalog page
// the registry serves, so that a test can exercise pagination with a few
// repositories.
func WithCatalogMaxEntries(n int) Option {
	return func(s *settings) { s.maxEntries = n }
}

// WithLog makes the registry log every request at level info to w, with
// its "text" or "json" formatter, as a registry configured with
// log.formatter does: the lines regsql ingest-log reads. The registry logs
// through logrus's process-wide logger, so this sets its output, level and
// formatter for the whole process until the registry is closed: a test that
// reads the log must not run in parallel with other registries.
func WithLog(w io.Writer, format string) Option {
	return func(s *settings) { s.log, s.logFormat = w, format }
}

// WithNotifications configures a notifications endpoint posting to url, with
// a short timeout and backoff so that a test's receiver gets the events
// quickly.
func WithNotifications(url string) Option {
	return func(s *settings) { s.notifications = url }
}

// Start starts a registry for the test and stops it when the test ends.
// Its storage is in t.TempDir() unless WithRoot says otherwise.
func Start(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	s := settings{}
	for _, o := range opts {
		o(&s)
	}
	if s.backend == S3 && s.s3 == nil {
		s.s3 = s3test.Start(t, s3test.Options{})
		s.bucket = s.s3.NewBucket(t)
		opts = append(opts, func(st *settings) { st.s3, st.bucket = s.s3, s.bucket })
	}
	r, err := start(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("start registry: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// New starts a registry outside a test, for programs such as the sample
// generator. The caller must Close it. Without WithRoot its storage is in a
// temporary directory that Close removes. It has filesystem storage only.
func New(opts ...Option) (*Registry, error) {
	scratch, err := os.MkdirTemp("", "registrytest-")
	if err != nil {
		return nil, fmt.Errorf("create scratch directory: %w", err)
	}
	r, err := start(scratch, opts)
	if err != nil {
		os.RemoveAll(scratch)
		return nil, err
	}
	r.scratch = scratch
	return r, nil
}

func start(scratch string, opts []Option) (*Registry, error) {
	s := settings{backend: Filesystem, root: filepath.Join(scratch, "storage"), maxEntries: 1000}
	for _, o := range opts {
		o(&s)
	}
	var (
		root    string
		storage map[string]any // the driver's parameters
		err     error
	)
	switch s.backend {
	case Filesystem:
		if root, err = filepath.Abs(s.root); err != nil {
			return nil, fmt.Errorf("resolve storage root %q: %w", s.root, err)
		}
		if err := os.MkdirAll(root, 0o755); err != nil {
			return nil, fmt.Errorf("create storage root: %w", err)
		}
		storage = map[string]any{"rootdirectory": root}
	case S3:
		if s.s3 == nil {
			return nil, fmt.Errorf("start registry: the %s backend is for tests only (Start)", s.backend)
		}
		storage = s.s3.DriverParameters(s.bucket, s3Root)
	default:
		return nil, fmt.Errorf("start registry: unknown backend %q", s.backend)
	}
	if s.from != "" {
		if err := s.copyFrom(root); err != nil {
			return nil, fmt.Errorf("copy the storage of %q: %w", s.from, err)
		}
	}
	yaml := configYAML(string(s.backend), storage, s)
	cfg, err := configuration.Parse(bytes.NewReader(yaml))
	if err != nil {
		return nil, fmt.Errorf("parse registry config: %w", err)
	}
	configPath := filepath.Join(scratch, "config.yml")
	if err := os.WriteFile(configPath, yaml, 0o644); err != nil {
		return nil, fmt.Errorf("write registry config: %w", err)
	}
	ctx := context.Background()
	drv, err := factory.Create(ctx, string(s.backend), storage)
	if err != nil {
		return nil, fmt.Errorf("create storage driver: %w", err)
	}

	// The registry logs through logrus's global logger and only its main
	// sets the level from the config; do the same so tests stay quiet.
	if level, err := logrus.ParseLevel(string(cfg.Log.Level)); err == nil {
		logrus.SetLevel(level)
	}
	restoreLog := func() {}
	if s.log != nil {
		restoreLog = captureLog(s.log, s.logFormat)
	}
	app := handlers.NewApp(ctx, cfg)
	server := httptest.NewServer(app)
	client := NewClient(server.URL)
	client.HTTP = server.Client()
	return &Registry{
		Client:     client,
		backend:    s.backend,
		s3:         s.s3,
		bucket:     s.bucket,
		root:       root,
		configPath: configPath,
		config:     yaml,
		driver:     drv,
		server:     server,
		app:        app,
		restoreLog: restoreLog,
	}, nil
}

// configYAML is the registry's configuration: the driver's storage with
// its parameters, deletes enabled (the API's DELETE routes are what tests
// exercise), no upload purging (abandoned uploads must stay for the index
// to see), no redirects of blob reads to the object store (pulls are
// verified through the registry), quiet logs, no auth.
func configYAML(driver string, params map[string]any, s settings) []byte {
	// A JSON object is a valid YAML flow mapping, whatever the values.
	quoted, _ := json.Marshal(params)
	level := "error"
	if s.log != nil {
		level = "info"
	}
	var notifications string
	if s.notifications != "" {
		u, _ := json.Marshal(s.notifications)
		notifications = fmt.Sprintf(`notifications:
  endpoints:
    - name: regsqltest
      url: %s
      timeout: 5s
      threshold: 1000
      backoff: 50ms
`, u)
	}
	return fmt.Appendf(nil, `version: 0.1
log:
  level: %s
  accesslog:
    disabled: true
storage:
  %s: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
  redirect:
    disable: true
http:
  addr: 127.0.0.1:5000
  secret: regsql-registrytest
catalog:
  maxentries: %d
%s`, level, driver, quoted, s.maxEntries, notifications)
}

// captureLog points logrus's process-wide logger at w with the registry's
// formatter for format (registry.go's configureLogging), and returns what
// puts the previous output, formatter and level back.
func captureLog(w io.Writer, format string) func() {
	std := logrus.StandardLogger()
	out, formatter, level := std.Out, std.Formatter, std.GetLevel()
	if format == "json" {
		logrus.SetFormatter(&logrus.JSONFormatter{TimestampFormat: time.RFC3339Nano, DisableHTMLEscape: true})
	} else {
		logrus.SetFormatter(&logrus.TextFormatter{TimestampFormat: time.RFC3339Nano, DisableColors: true})
	}
	logrus.SetOutput(w)
	logrus.SetLevel(logrus.InfoLevel)
	return func() {
		logrus.SetOutput(out)
		logrus.SetFormatter(formatter)
		logrus.SetLevel(level)
	}
}

// Copy starts another registry for the test on a copy of this one's
// storage, as it is now: the directory tree with its modification times,
// or the bucket copied object by object on the same S3 server.
func (r *Registry) Copy(t testing.TB) *Registry {
	t.Helper()
	switch r.backend {
	case S3:
		bucket := s3test.BucketName("copy-"+t.Name(), copies.Add(1))
		if err := r.s3.CopyBucket(context.Background(), r.bucket, bucket); err != nil {
			t.Fatalf("copy the registry's bucket: %v", err)
		}
		return Start(t, WithBackend(S3), func(s *settings) { s.s3, s.bucket = r.s3, bucket })
	default:
		dst := filepath.Join(t.TempDir(), "copy")
		if err := copyTree(r.root, dst); err != nil {
			t.Fatalf("copy the registry's storage: %v", err)
		}
		return Start(t, WithRoot(dst))
	}
}

var copies atomic.Int64

// copyFrom copies the tree s.from into the registry's storage: into root
// on the filesystem, into the bucket below s3Root on S3.
func (s settings) copyFrom(root string) error {
	if s.backend == Filesystem {
		return copyTree(s.from, root)
	}
	return filepath.WalkDir(s.from, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(s.from, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return s.s3.PutObject(context.Background(), s.bucket, strings.TrimPrefix(s3Root, "/")+"/"+filepath.ToSlash(rel), b)
	})
}

// copyTree copies the directory tree src to dst, keeping modification
// times.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(target, b, 0o644); err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		return os.Chtimes(target, fi.ModTime(), fi.ModTime())
	})
}

// Root is the filesystem storage's rootdirectory, the directory holding
// docker/registry/v2; "" on S3.
func (r *Registry) Root() string { return r.root }

// Backend is where the registry stores.
func (r *Registry) Backend() Backend { return r.backend }

// S3 is the S3 server of the S3 backend, nil on the filesystem.
func (r *Registry) S3() *s3test.Server { return r.s3 }

// Bucket is the S3 backend's bucket, "" on the filesystem.
func (r *Registry) Bucket() string { return r.bucket }

// ConfigPath is a file holding the registry's YAML configuration, for
// commands that take the registry's config.yml (regsql --config).
func (r *Registry) ConfigPath() string { return r.configPath }

// Config is the registry's YAML configuration.
func (r *Registry) Config() []byte { return append([]byte(nil), r.config...) }

// Driver is a distribution storage driver on the registry's storage, for
// what works below the API: storage.MarkAndSweep, reading paths directly.
func (r *Registry) Driver() storagedriver.StorageDriver { return r.driver }

// Close stops the server and, for a registry from New without WithRoot,
// removes its storage. Start's registries close themselves.
func (r *Registry) Close() {
	r.server.Close()
	_ = r.app.Shutdown()
	if r.restoreLog != nil {
		r.restoreLog()
	}
	if r.scratch != "" {
		os.RemoveAll(r.scratch)
	}
}
