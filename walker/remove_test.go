package walker_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/walker"
)

func TestPaths(t *testing.T) {
	d := digest.Digest("sha256:" + "ab" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd")
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"blob", walker.BlobDir(d), "blobs/sha256/ab/" + d.Encoded()},
		{"revision", walker.RevisionDir("org/app", d), "repositories/org/app/_manifests/revisions/sha256/" + d.Encoded()},
		{"tag", walker.TagDir("org/app", "v1"), "repositories/org/app/_manifests/tags/v1"},
		{"tag current", walker.TagCurrentLink("org/app", "v1"), "repositories/org/app/_manifests/tags/v1/current/link"},
		{"tag index", walker.TagIndexDir("org/app", "v1", d), "repositories/org/app/_manifests/tags/v1/index/sha256/" + d.Encoded()},
		{"layer link", walker.LayerLinkDir("org/app", d), "repositories/org/app/_layers/sha256/" + d.Encoded()},
		{"upload", walker.UploadDir("org/app", "u-1"), "repositories/org/app/_uploads/u-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// TestRemove removes through both storages and checks that paths outside
// what the registry's own deletes touch are refused, whatever the caller
// computed.
func TestRemove(t *testing.T) {
	d := digest.FromString("x")
	for _, kind := range []string{"dir", "driver"} {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			v2 := filepath.Join(root, "docker", "registry", "v2")
			keep := filepath.Join(root, "keep")
			for _, f := range []string{filepath.Join(v2, filepath.FromSlash(walker.RevisionDir("app", d)), "link"), keep} {
				if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(f, []byte(d), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var st walker.Remover
			if kind == "dir" {
				st = walker.NewDirStorage(v2)
			} else {
				drv, err := factory.Create(context.Background(), "filesystem", map[string]any{"rootdirectory": root})
				if err != nil {
					t.Fatal(err)
				}
				st = walker.NewDriverStorage(drv, walker.DriverOptions{})
			}
			ctx := context.Background()
			for _, bad := range []string{"", "/", "/etc", "..", "repositories/../../keep", "repositories", "blobs/sha256", "other/x/y/z", walker.RevisionDir("app", "sha256:short")} {
				if err := st.Remove(ctx, bad); err == nil {
					t.Errorf("Remove(%q) = nil, want a refusal", bad)
				}
			}
			if _, err := os.Stat(keep); err != nil {
				t.Fatalf("a refused remove touched %s: %v", keep, err)
			}
			if err := st.Remove(ctx, walker.RevisionDir("app", d)); err != nil {
				t.Fatalf("Remove() = %v", err)
			}
			if _, err := st.Stat(ctx, walker.RevisionDir("app", d)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Stat after Remove = %v, want not exist", err)
			}
			if err := st.Remove(ctx, walker.RevisionDir("app", d)); err != nil {
				t.Errorf("Remove() of what is gone = %v, want nil", err)
			}
		})
	}
}
