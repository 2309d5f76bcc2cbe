package walker

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadFileSized reads files whose size changed since it was seen: the
// whole file either way, as ReadFile reads it. A directory and a missing
// file fail as ReadFile fails.
func TestReadFileSized(t *testing.T) {
	root := t.TempDir()
	body := strings.Repeat("manifest", 300) // larger than any first guess
	if err := os.WriteFile(filepath.Join(root, "f"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	st := NewDirStorage(root)
	ctx := context.Background()
	for _, size := range []int64{int64(len(body)), 0, 1, int64(len(body)) - 1, int64(len(body)) + 1, 1 << 20, -1} {
		got, err := st.readFileSized(ctx, "f", size)
		if err != nil || string(got) != body {
			t.Errorf("readFileSized(f, %d) = %d bytes, %v; want the %d bytes", size, len(got), err, len(body))
		}
	}
	for _, p := range []string{"d", "missing"} {
		_, err := st.readFileSized(ctx, p, 10)
		_, want := st.ReadFile(ctx, p)
		if err == nil || want == nil || errors.Is(err, fs.ErrNotExist) != errors.Is(want, fs.ErrNotExist) {
			t.Errorf("readFileSized(%s) error %v, ReadFile's %v", p, err, want)
		}
	}
}
