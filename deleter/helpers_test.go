package deleter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/internal/journal"
	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/queries"
	"github.com/regsql/regsql/walker"
)

// The artifact types of the referrers the tests push.
const (
	sigType  = "application/vnd.dev.cosign.artifact.sig.v1+json"
	sbomType = "application/spdx+json"
)

// img is a one-layer image whose content is picked by seed.
func img(seed int64, base ...[]byte) *registrytest.Manifest {
	return registrytest.Image(registrytest.ImageOptions{Seed: seed, Layers: 1, OCI: true, Base: base})
}

// arch is an image for another platform.
func arch(seed int64, a string, base ...[]byte) *registrytest.Manifest {
	return registrytest.Image(registrytest.ImageOptions{Seed: seed, Layers: 1, OCI: true, Base: base, Architecture: a})
}

// push pushes m into repo under each tag (by digest only when none).
func push(t *testing.T, reg *registrytest.Registry, repo string, m *registrytest.Manifest, tags ...string) digest.Digest {
	t.Helper()
	if len(tags) == 0 {
		tags = []string{""}
	}
	var d digest.Digest
	for _, tag := range tags {
		var err error
		if d, err = reg.Push(repo, tag, m); err != nil {
			t.Fatalf("push %s:%s: %v", repo, tag, err)
		}
	}
	return d
}

// buildIndex indexes the registry's storage afresh into t.TempDir().
func buildIndex(t *testing.T, root string) *index.DB {
	t.Helper()
	ctx := context.Background()
	st, err := walker.OpenRoot(root)
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	path := filepath.Join(t.TempDir(), "regsql.db")
	if _, err := index.Build(ctx, path, st, index.BuildOptions{Root: root, Driver: "filesystem", Version: "test"}); err != nil {
		t.Fatalf("index.Build() error = %v", err)
	}
	db, err := index.Open(ctx, path)
	if err != nil {
		t.Fatalf("index.Open() error = %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openStorage opens a test registry's storage as regsql does: the
// directory of a filesystem registry (--root), the config of one on S3
// (--config).
func openStorage(t *testing.T, reg *registrytest.Registry) walker.Remover {
	t.Helper()
	if reg.Backend() == registrytest.Filesystem {
		st, err := walker.OpenRoot(reg.Root())
		if err != nil {
			t.Fatalf("open storage: %v", err)
		}
		return st
	}
	st, _, err := walker.OpenConfig(context.Background(), reg.ConfigPath(), walker.DriverOptions{})
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	return st
}

// indexOf indexes a test registry's storage afresh into t.TempDir().
func indexOf(t *testing.T, reg *registrytest.Registry) *index.DB {
	t.Helper()
	if reg.Backend() == registrytest.Filesystem {
		return buildIndex(t, reg.Root())
	}
	path := filepath.Join(t.TempDir(), "regsql.db")
	if _, err := index.Build(context.Background(), path, openStorage(t, reg), index.BuildOptions{Root: reg.ConfigPath(), Driver: "s3", Version: "test"}); err != nil {
		t.Fatalf("index.Build() error = %v", err)
	}
	db, err := index.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("index.Open() error = %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// planFor indexes reg and plans cands on it.
func planFor(t *testing.T, reg *registrytest.Registry, cands []queries.Candidate, opts PlanOptions) *Plan {
	t.Helper()
	p, err := NewPlan(context.Background(), indexOf(t, reg), cands, opts)
	if err != nil {
		t.Fatalf("NewPlan() error = %v", err)
	}
	return p
}

// tagRow, digestRow and pinnedRow are candidate rows.
func tagRow(repo, tag string) queries.Candidate { return queries.Candidate{Repo: repo, Tag: tag} }
func digestRow(repo string, d digest.Digest) queries.Candidate {
	return queries.Candidate{Repo: repo, Digest: d}
}
func pinnedRow(repo, tag string, d digest.Digest) queries.Candidate {
	return queries.Candidate{Repo: repo, Tag: tag, Digest: d}
}

// keys returns the keys of the plan's actions, in order.
func keys(p *Plan) []string {
	var out []string
	for _, a := range p.Actions {
		out = append(out, a.Key())
	}
	return out
}

func tagKey(repo, tag string) string { return string(DeleteTag) + " " + repo + ":" + tag }
func manifestKey(repo string, d digest.Digest) string {
	return string(DeleteManifest) + " " + repo + "@" + d.String()
}

// fastAPI is an API executor for the registry at url with retries that
// wait next to nothing.
func fastAPI(t *testing.T, url string, change ...func(*APIOptions)) *APIExecutor {
	t.Helper()
	opts := APIOptions{URL: url, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, RequestTimeout: 10 * time.Second}
	for _, c := range change {
		c(&opts)
	}
	ex, err := NewAPIExecutor(opts)
	if err != nil {
		t.Fatalf("NewAPIExecutor() error = %v", err)
	}
	return ex
}

// storageExec is a storage executor on the registry's storage, told the
// registry is stopped.
func storageExec(t *testing.T, reg *registrytest.Registry) *StorageExecutor {
	t.Helper()
	return NewStorageExecutor(openStorage(t, reg), StorageOptions{RegistryStopped: true, UploadGrace: time.Hour})
}

// newJournal creates a journal in t.TempDir() and returns it and its path.
func newJournal(t *testing.T, run string) (*journal.Writer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	return openJournal(t, path, run), path
}

func openJournal(t *testing.T, path, run string) *journal.Writer {
	t.Helper()
	j, err := journal.Create(path, run)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func readJournal(t *testing.T, path string) []journal.Entry {
	t.Helper()
	es, err := journal.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// tree is every file below root (empty directories do not count, as object
// stores have none), with the sha256 of its content.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		sum := sha256.Sum256(b)
		out[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// storageTree is tree of a registry's storage: of its directory, or of its
// bucket's objects (an object store has no empty directories; tree has no
// directories at all).
func storageTree(t *testing.T, reg *registrytest.Registry) map[string]string {
	t.Helper()
	if reg.Backend() == registrytest.Filesystem {
		return tree(t, reg.Root())
	}
	ctx := context.Background()
	out := map[string]string{}
	drv := reg.Driver()
	err := drv.Walk(ctx, "/", func(fi storagedriver.FileInfo) error {
		if fi.IsDir() {
			return nil
		}
		b, err := drv.GetContent(ctx, fi.Path())
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(fi.Path(), "/")] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatalf("list the registry's bucket: %v", err)
	}
	return out
}

// diffTrees lists the files that differ between two trees.
func diffTrees(a, b map[string]string) []string {
	var out []string
	for p, h := range a {
		if g, ok := b[p]; !ok {
			out = append(out, "only in first: "+p)
		} else if g != h {
			out = append(out, "differs: "+p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			out = append(out, "only in second: "+p)
		}
	}
	slices.Sort(out)
	return out
}

// allTags returns every repo:tag the registry serves.
func allTags(t *testing.T, reg *registrytest.Registry) []string {
	t.Helper()
	repos, err := reg.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range repos {
		tags, err := reg.Tags(r)
		if registrytest.StatusCode(err) == 404 {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range tags {
			out = append(out, r+":"+tag)
		}
	}
	slices.Sort(out)
	return out
}

// exists reports whether the registry serves ref (a tag or digest) in repo.
func exists(t *testing.T, reg *registrytest.Registry, repo, ref string) bool {
	t.Helper()
	_, err := reg.HeadManifest(repo, ref)
	switch registrytest.StatusCode(err) {
	case 0:
		if err != nil {
			t.Fatal(err)
		}
		return true
	case 404:
		return false
	}
	t.Fatal(err)
	return false
}

// splitRef splits "repo:tag".
func splitRef(s string) (repo, tag string) {
	i := strings.LastIndex(s, ":")
	return s[:i], s[i+1:]
}
