package walker_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/distribution/distribution/v3/registry/storage/driver/factory"

	"github.com/regsql/regsql/walker"
)

func mkdirAll(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// countingStorage counts the reads of each file.
type countingStorage struct {
	walker.Storage
	mu    sync.Mutex
	reads map[string]int
}

func (c *countingStorage) ReadFile(ctx context.Context, p string) ([]byte, error) {
	c.mu.Lock()
	c.reads[p]++
	c.mu.Unlock()
	return c.Storage.ReadFile(ctx, p)
}

func TestOpenRoot(t *testing.T) {
	root := t.TempDir()
	v2dir := filepath.Join(root, v2)
	mkdirAll(t, v2dir)
	copyRoot := t.TempDir() // a v2 root copied elsewhere, found by its contents
	mkdirAll(t, filepath.Join(copyRoot, "blobs"))

	tests := []struct {
		name string
		dir  string
		want string
	}{
		{name: "rootdirectory", dir: root, want: v2dir},
		{name: "docker", dir: filepath.Join(root, "docker"), want: v2dir},
		{name: "registry", dir: filepath.Join(root, "docker", "registry"), want: v2dir},
		{name: "v2", dir: v2dir, want: v2dir},
		{name: "v2 copied elsewhere", dir: copyRoot, want: copyRoot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := walker.OpenRoot(tt.dir)
			if err != nil {
				t.Fatalf("OpenRoot(%q) error = %v", tt.dir, err)
			}
			if got := st.Root(); got != tt.want {
				t.Errorf("OpenRoot(%q).Root() = %q, want %q", tt.dir, got, tt.want)
			}
		})
	}
}

func TestOpenRootErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dir     string
		wantIs  error
		wantMsg string
	}{
		{name: "missing", dir: filepath.Join(dir, "nope"), wantIs: fs.ErrNotExist, wantMsg: "no such file"},
		{name: "a file", dir: file, wantMsg: "is not a directory"},
		{name: "no layout", dir: dir, wantIs: walker.ErrNoStorage, wantMsg: `no registry storage under "` + dir + `": expected docker/registry/v2 (with repositories/ or blobs/)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := walker.OpenRoot(tt.dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) || (tt.wantIs != nil && !errors.Is(err, tt.wantIs)) {
				t.Errorf("OpenRoot(%q) error = %v, want one saying %q", tt.dir, err, tt.wantMsg)
			}
		})
	}
}

func TestDirStorageErrors(t *testing.T) {
	st := openFixture(t, "healthy")
	ctx := context.Background()
	if _, err := st.List(ctx, "repositories/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List(missing) error = %v, want fs.ErrNotExist", err)
	}
	if _, err := st.ReadFile(ctx, "blobs/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(missing) error = %v, want fs.ErrNotExist", err)
	}
	if _, err := st.Stat(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(missing) error = %v, want fs.ErrNotExist", err)
	}
}

// TestDriverStorageMatchesDirStorage walks every fixture through the
// filesystem storage driver, opened directly and from a registry config,
// and expects exactly the records of the direct walk.
func TestDriverStorageMatchesDirStorage(t *testing.T) {
	for name := range recipes {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", name)
			abs, err := filepath.Abs(dir)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := walk(t, openFixture(t, name))

			drv, err := factory.Create(context.Background(), "filesystem", map[string]any{"rootdirectory": abs})
			if err != nil {
				t.Fatalf("factory.Create() error = %v", err)
			}
			got, _ := walk(t, walker.NewDriverStorage(drv, walker.DriverOptions{}))
			compareRecords(t, "factory", got, want)

			if name != "healthy" {
				return
			}
			cfg := filepath.Join(t.TempDir(), "config.yml")
			yml := "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: " + abs + "\n  delete:\n    enabled: true\n"
			if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
				t.Fatal(err)
			}
			st, driverName, err := walker.OpenConfig(context.Background(), cfg, walker.DriverOptions{})
			if err != nil {
				t.Fatalf("OpenConfig() error = %v", err)
			}
			if driverName != "filesystem" {
				t.Errorf("OpenConfig() driver = %q, want filesystem", driverName)
			}
			got, _ = walk(t, st)
			compareRecords(t, "config", got, want)
		})
	}
}

func compareRecords(t *testing.T, how string, got, want *recorder) {
	t.Helper()
	pairs := []struct {
		what      string
		got, want any
	}{
		{"repositories", got.repos, want.repos},
		{"tags", got.tags, want.tags},
		{"tag history", got.history, want.history},
		{"revisions", got.revisions, want.revisions},
		{"layer links", got.layerLinks, want.layerLinks},
		{"uploads", got.uploads, want.uploads},
		{"blobs", got.blobs, want.blobs},
		{"manifests", got.manifests, want.manifests},
		{"problems", got.problems, want.problems},
	}
	for _, p := range pairs {
		if !reflect.DeepEqual(p.got, p.want) {
			t.Errorf("%s walk: %s = %+v\nwant %+v", how, p.what, p.got, p.want)
		}
	}
}

func TestOpenConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		wantIs  error
		wantMsg string
	}{
		{name: "missing file", path: filepath.Join(dir, "nope.yml"), wantIs: fs.ErrNotExist, wantMsg: "read registry config"},
		{name: "bad yaml", path: write("bad.yml", "version: [0.1\n"), wantMsg: "parse registry config"},
		{name: "no storage", path: write("nostorage.yml", "version: 0.1\n"), wantMsg: "no storage configuration"},
		{name: "unknown driver", path: write("s3.yml", "version: 0.1\nstorage:\n  nosuchdriver: {}\n"), wantIs: walker.ErrUnknownDriver, wantMsg: `"nosuchdriver"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := walker.OpenConfig(context.Background(), tt.path, walker.DriverOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) || (tt.wantIs != nil && !errors.Is(err, tt.wantIs)) {
				t.Errorf("OpenConfig(%q) error = %v, want one saying %q", tt.name, err, tt.wantMsg)
			}
		})
	}
}

func TestDriverStorageNotExist(t *testing.T) {
	drv, err := factory.Create(context.Background(), "inmemory", nil)
	if err != nil {
		t.Fatal(err)
	}
	st := walker.NewDriverStorage(drv, walker.DriverOptions{})
	ctx := context.Background()
	if _, err := st.List(ctx, "repositories"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List(missing) error = %v, want fs.ErrNotExist", err)
	}
	if _, err := st.ReadFile(ctx, "blobs/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(missing) error = %v, want fs.ErrNotExist", err)
	}
	if _, err := st.Stat(ctx, "blobs/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(missing) error = %v, want fs.ErrNotExist", err)
	}
}
