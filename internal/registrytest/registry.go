package registrytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // the driver the registry is configured with
	"github.com/sirupsen/logrus"
)

// Registry is a distribution registry running in this process, serving
// the OCI distribution API on 127.0.0.1 with filesystem storage. It embeds
// the Client that talks to it, so reg.Push, reg.Tags and the rest are at
// hand.
type Registry struct {
	*Client
	root       string
	configPath string
	config     []byte
	driver     storagedriver.StorageDriver
	server     *httptest.Server
	app        *handlers.App
	scratch    string // removed by Close when New made it
}

// Option changes how a Registry is started.
type Option func(*settings)

type settings struct {
	root       string
	maxEntries int
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

// Start starts a registry for the test and stops it when the test ends.
// Its storage is in t.TempDir() unless WithRoot says otherwise.
func Start(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	r, err := start(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("start registry: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// New starts a registry outside a test, for programs such as the sample
// generator. The caller must Close it. Without WithRoot its storage is in a
// temporary directory that Close removes.
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
	s := settings{root: filepath.Join(scratch, "storage"), maxEntries: 1000}
	for _, o := range opts {
		o(&s)
	}
	root, err := filepath.Abs(s.root)
	if err != nil {
		return nil, fmt.Errorf("resolve storage root %q: %w", s.root, err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create storage root: %w", err)
	}
	yaml := configYAML(root, s.maxEntries)
	cfg, err := configuration.Parse(bytes.NewReader(yaml))
	if err != nil {
		return nil, fmt.Errorf("parse registry config: %w", err)
	}
	configPath := filepath.Join(scratch, "config.yml")
	if err := os.WriteFile(configPath, yaml, 0o644); err != nil {
		return nil, fmt.Errorf("write registry config: %w", err)
	}
	ctx := context.Background()
	drv, err := factory.Create(ctx, "filesystem", map[string]any{"rootdirectory": root})
	if err != nil {
		return nil, fmt.Errorf("create storage driver: %w", err)
	}

	// The registry logs through logrus's global logger and only its main
	// sets the level from the config; do the same so tests stay quiet.
	if level, err := logrus.ParseLevel(string(cfg.Log.Level)); err == nil {
		logrus.SetLevel(level)
	}
	app := handlers.NewApp(ctx, cfg)
	server := httptest.NewServer(app)
	client := NewClient(server.URL)
	client.HTTP = server.Client()
	return &Registry{
		Client:     client,
		root:       root,
		configPath: configPath,
		config:     yaml,
		driver:     drv,
		server:     server,
		app:        app,
	}, nil
}

// configYAML is the registry's configuration: filesystem storage at root,
// deletes enabled (the API's DELETE routes are what tests exercise), no
// upload purging (abandoned uploads must stay for the index to see), quiet
// logs, no auth.
func configYAML(root string, maxEntries int) []byte {
	// A JSON string is a valid YAML double-quoted scalar, whatever the path.
	quoted, _ := json.Marshal(root)
	return fmt.Appendf(nil, `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:5000
  secret: regsql-registrytest
catalog:
  maxentries: %d
`, quoted, maxEntries)
}

// Root is the storage rootdirectory: the directory holding
// docker/registry/v2.
func (r *Registry) Root() string { return r.root }

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
	if r.scratch != "" {
		os.RemoveAll(r.scratch)
	}
}
