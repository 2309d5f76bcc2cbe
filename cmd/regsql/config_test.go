package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/regsql/regsql/internal/registrytest"
)

// TestIndexConfigEqualsRoot indexes a live registry's storage twice, once
// through its own config.yml and distribution's storage driver, once through
// the directory, and expects the same facts.
func TestIndexConfigEqualsRoot(t *testing.T) {
	reg := registrytest.Start(t)
	base := registrytest.Layer(1, 512)
	amd := registrytest.Image(registrytest.ImageOptions{Seed: 1, Base: [][]byte{base}, OS: "linux", Architecture: "amd64"})
	arm := registrytest.Image(registrytest.ImageOptions{Seed: 2, Base: [][]byte{base}, OS: "linux", Architecture: "arm64"})
	for repo, m := range map[string]*registrytest.Manifest{
		"org/app":     registrytest.Index(amd, arm),
		"org/app/sub": amd,
	} {
		if _, err := reg.Push(repo, "v1", m); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	byConfig, byRoot := filepath.Join(dir, "config.db"), filepath.Join(dir, "root.db")
	if _, stderr, err := run(t, "", "index", "--config", reg.ConfigPath(), "--db", byConfig); err != nil {
		t.Fatalf("index --config: %v\n%s", err, stderr)
	}
	if _, stderr, err := run(t, "", "index", "--root", reg.Root(), "--db", byRoot); err != nil {
		t.Fatalf("index --root: %v\n%s", err, stderr)
	}
	for _, q := range []string{
		"SELECT r.name, t.name, t.digest, t.pushed_at FROM tags t JOIN repos r ON r.id = t.repo_id ORDER BY 1, 2",
		"SELECT r.name, v.digest, v.linked_at FROM revisions v JOIN repos r ON r.id = v.repo_id ORDER BY 1, 2",
		"SELECT digest, media_type, os, arch, total_size FROM manifests ORDER BY 1",
		"SELECT manifest_digest, kind, position, digest, size FROM refs ORDER BY 1, 2, 3",
		"SELECT digest, size, modified_at FROM blobs ORDER BY 1",
		"SELECT kind, path FROM problems ORDER BY 1, 2",
	} {
		a, _, errA := run(t, "", "query", "--db", byConfig, "-o", "tsv", q)
		b, _, errB := run(t, "", "query", "--db", byRoot, "-o", "tsv", q)
		if errA != nil || errB != nil {
			t.Fatalf("query %q: %v, %v", q, errA, errB)
		}
		if strings.Count(a, "\n") < 2 && !strings.Contains(q, "problems") {
			t.Errorf("%s: no rows, the test pushes something of each kind:\n%s", q, a)
		}
		if a != b {
			t.Errorf("%s\n--config gave:\n%s\n--root gave:\n%s", q, a, b)
		}
	}
	out, _, err := run(t, "", "query", "--db", byConfig, "-o", "tsv", "SELECT driver FROM scans")
	if err != nil || out != "driver\nfilesystem\n" {
		t.Errorf("scans.driver = %q, %v, want filesystem", out, err)
	}
}
