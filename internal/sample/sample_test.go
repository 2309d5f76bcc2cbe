package sample_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/internal/sample"
)

// TestCommittedSampleIsCurrent replays the recipe on a fresh registry and
// compares what the registry wrote with testdata/sample-registry, file for
// file, so that the committed tree, the recipe and the README cannot drift
// apart. Uploads are compared by count only: their uuid and startedat are
// new on every run.
func TestCommittedSampleIsCurrent(t *testing.T) {
	reg := registrytest.Start(t)
	if err := sample.Populate(reg.Client); err != nil {
		t.Fatal(err)
	}
	got := files(t, filepath.Join(reg.Root(), "docker"))
	want := files(t, "../../testdata/sample-registry/docker")

	for _, m := range []map[string][]byte{got, want} {
		if n := len(uploads(m)); n != 4 {
			t.Errorf("upload files = %d, want 4 (startedat, data, hash states at 0 and 700)", n)
		}
		for _, p := range uploads(m) {
			delete(m, p)
		}
	}
	for p, data := range got {
		if w, ok := want[p]; !ok {
			t.Errorf("%s: written by the recipe, missing from the committed sample (run make sample)", p)
		} else if !bytes.Equal(data, w) {
			t.Errorf("%s: content differs from the committed sample (run make sample)", p)
		}
	}
	for p := range want {
		if _, ok := got[p]; !ok {
			t.Errorf("%s: in the committed sample, not written by the recipe (run make sample)", p)
		}
	}
}

// files reads every regular file under dir, keyed by slash path.
func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		m[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func uploads(m map[string][]byte) []string {
	var out []string
	for p := range m {
		if strings.Contains(p, "/_uploads/") {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}
