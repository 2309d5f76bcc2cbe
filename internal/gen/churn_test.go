package gen_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regsql/regsql/internal/gen"
)

// treeFiles returns every directory and file under dir: a file's content
// hash, modification time and mode.
func treeFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			files[rel] = "dir"
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		files[rel] = hex.EncodeToString(sum[:]) + " " + info.ModTime().UTC().Format(time.RFC3339Nano) + " " + info.Mode().String()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestChangeTreeUndo changes a tree, checks that the change is the one
// asked for and the same every time, and that Undo puts back every file
// with its content and time.
func TestChangeTreeUndo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := gen.Generate(context.Background(), dir, gen.Params{Seed: 3, Repos: 40}); err != nil {
		t.Fatal(err)
	}
	before := treeFiles(t, dir)

	changed := func() (*gen.Churn, map[string]string) {
		c, err := gen.ChangeTree(dir, 0.1, 1)
		if err != nil {
			t.Fatalf("ChangeTree() error = %v", err)
		}
		return c, treeFiles(t, dir)
	}
	c, during := changed()
	if c.Stats.Repos != 4 || len(c.Repos) != 4 {
		t.Errorf("ChangeTree() changed %d repositories (%v), want 4", c.Stats.Repos, c.Repos)
	}
	if c.Stats.Pushes == 0 || c.Stats.Blobs == 0 || c.Stats.TagsDeleted+c.Stats.ManifestsDeleted+c.Stats.LayerLinksDeleted == 0 {
		t.Errorf("ChangeTree() stats = %+v, want pushes, blobs and deletions", c.Stats)
	}
	if maps.Equal(before, during) {
		t.Fatalf("ChangeTree() changed no file")
	}
	for path := range during {
		if strings.HasSuffix(path, ".tmp") || strings.Contains(path, "_uploads/churn-") {
			t.Errorf("ChangeTree() left %s behind", path)
		}
	}
	if err := c.Undo(); err != nil {
		t.Fatalf("Undo() error = %v", err)
	}
	compareTrees(t, treeFiles(t, dir), before)

	// The same change again: the same files, but for their times.
	c2, again := changed()
	defer c2.Undo()
	if c2.Stats != c.Stats || !slices.Equal(c2.Repos, c.Repos) {
		t.Errorf("ChangeTree() again = %+v %v, want %+v %v", c2.Stats, c2.Repos, c.Stats, c.Repos)
	}
	strip := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k], _, _ = strings.Cut(v, " ")
		}
		return out
	}
	if !maps.Equal(strip(during), strip(again)) {
		t.Errorf("ChangeTree() twice gave different trees")
	}
}

func compareTrees(t *testing.T, got, want map[string]string) {
	t.Helper()
	for _, path := range slices.Sorted(maps.Keys(want)) {
		if got[path] != want[path] {
			t.Errorf("%s = %q after Undo, want %q", path, got[path], want[path])
		}
	}
	for _, path := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[path]; !ok {
			t.Errorf("%s is left after Undo", path)
		}
	}
}
