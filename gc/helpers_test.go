package gc

import (
	"context"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/internal/registrygc"
	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/walker"
)

// image is an image with one layer of its own after base, OCI for an even
// seed and Docker schema2 for an odd one.
func image(seed int64, base ...[]byte) *registrytest.Manifest {
	return registrytest.Image(registrytest.ImageOptions{Seed: seed, Base: base, Layers: 1, OCI: seed%2 == 0})
}

func arm(seed int64) *registrytest.Manifest {
	return registrytest.Image(registrytest.ImageOptions{Seed: seed, OCI: true, Architecture: "arm64", Variant: "v8"})
}

const (
	signature = "application/vnd.dev.cosign.artifact.sig.v1+json"
	sbom      = "application/spdx+json"
)

// blobsOf is every blob m uploads: its body, config and layers, and its
// children's.
func blobsOf(m *registrytest.Manifest) []digest.Digest {
	set := map[digest.Digest]bool{}
	var add func(m *registrytest.Manifest)
	add = func(m *registrytest.Manifest) {
		set[m.Digest()] = true
		if m.Config != nil {
			set[digest.FromBytes(m.Config)] = true
		}
		for _, l := range m.Layers {
			set[digest.FromBytes(l)] = true
		}
		for _, c := range m.Children {
			add(c)
		}
	}
	add(m)
	return slices.Sorted(maps.Keys(set))
}

// openStorage opens the registry's storage as regsql gc does: a filesystem
// registry's directory (--root), an S3 registry's config (--config).
func openStorage(t *testing.T, reg *registrytest.Registry) walker.Remover {
	t.Helper()
	if reg.Backend() == registrytest.S3 {
		st, _, err := walker.OpenConfig(context.Background(), reg.ConfigPath(), walker.DriverOptions{})
		if err != nil {
			t.Fatalf("OpenConfig() error = %v", err)
		}
		return st
	}
	st, err := walker.OpenRoot(reg.Root())
	if err != nil {
		t.Fatalf("OpenRoot() error = %v", err)
	}
	return st
}

// plan plans a garbage collection of the registry's storage.
func plan(t *testing.T, reg *registrytest.Registry, opts Options) *Plan {
	t.Helper()
	p, err := NewPlan(context.Background(), openStorage(t, reg), opts)
	if err != nil {
		t.Fatalf("NewPlan() error = %v", err)
	}
	return p
}

// registryGC is what distribution's own garbage collector would delete.
func registryGC(t *testing.T, reg *registrytest.Registry, removeUntagged bool) registrygc.Result {
	t.Helper()
	res, err := registrygc.DryRun(context.Background(), reg.Driver(), removeUntagged)
	if err != nil {
		t.Fatalf("registry MarkAndSweep (RemoveUntagged=%v): %v\n%s", removeUntagged, err, res.Output)
	}
	return res
}

// items returns the plan's items of kind k as "digest" for blobs,
// "repo@digest" for revisions and layer links, "repo/uuid" for uploads,
// sorted.
func items(p *Plan, k Kind) []string {
	var out []string
	for _, it := range p.Items {
		if it.Kind == k {
			out = append(out, itemKey(it))
		}
	}
	slices.Sort(out)
	return out
}

func itemKey(it Item) string {
	switch it.Kind {
	case KindBlob:
		return it.Digest.String()
	case KindUpload:
		return it.Repo + "/" + it.UUID
	}
	return it.Repo + "@" + it.Digest.String()
}

// retained returns what the plan retained for reason why (every reason
// when why is empty) as items returns them.
func retained(p *Plan, k Kind, why Reason) []string {
	var out []string
	for _, r := range p.Retained {
		if r.Kind != k || (why != "" && r.Reason != why) {
			continue
		}
		if k == KindBlob {
			out = append(out, r.Digest.String())
		} else {
			out = append(out, r.Repo+"@"+r.Digest.String())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// reasons returns the distinct reasons of what the plan retained.
func reasons(p *Plan) []Reason {
	set := map[Reason]bool{}
	for _, r := range p.Retained {
		set[r.Reason] = true
	}
	return slices.Sorted(maps.Keys(set))
}

func strs[T ~string](ds []T) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = string(d)
	}
	return out
}

// union returns the sorted union of string sets.
func union(sets ...[]string) []string {
	var out []string
	for _, s := range sets {
		out = append(out, s...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// v2 is a path in the registry's storage, below docker/registry/v2.
func v2(reg *registrytest.Registry, rel string) string {
	return filepath.Join(reg.Root(), "docker", "registry", "v2", filepath.FromSlash(rel))
}

// age sets a storage file's modification time to d ago, to age a push
// without waiting for it.
func age(t *testing.T, reg *registrytest.Registry, rel string, d time.Duration) {
	t.Helper()
	at := time.Now().Add(-d)
	if err := os.Chtimes(v2(reg, rel), at, at); err != nil {
		t.Fatal(err)
	}
}

// ageAll makes every file of the storage d old: a registry whose pushes
// all ended long ago.
func ageAll(t *testing.T, reg *registrytest.Registry, d time.Duration) {
	t.Helper()
	at := time.Now().Add(-d)
	root := filepath.Join(reg.Root(), "docker", "registry", "v2")
	err := filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		return os.Chtimes(p, at, at)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// pulls pulls every tag of every repository the registry lists and every
// manifest revision in its storage by digest, each with every child,
// config and layer verified against its digest, and returns for each
// ("repo:tag" or "repo@digest") whether it pulled.
func pulls(t *testing.T, reg *registrytest.Registry) map[string]error {
	t.Helper()
	out := map[string]error{}
	repos, err := reg.Catalog()
	if err != nil {
		t.Fatalf("Catalog() error = %v", err)
	}
	for _, repo := range repos {
		tags, err := reg.Tags(repo)
		if registrytest.StatusCode(err) == http.StatusNotFound {
			continue // a repository without a tags directory
		}
		if err != nil {
			t.Fatalf("Tags(%q) error = %v", repo, err)
		}
		for _, tag := range tags {
			_, out[repo+":"+tag] = reg.Pull(repo, tag)
		}
	}
	for _, r := range walk(t, reg).repos {
		for _, v := range r.revisions {
			_, out[r.Name+"@"+v.Digest.String()] = reg.Pull(r.Name, v.Digest.String())
		}
	}
	return out
}

// checkPulls checks that a garbage collection lost nothing: every tag
// that pulled before still does, and so does every revision left.
func checkPulls(t *testing.T, before, after map[string]error) {
	t.Helper()
	for ref, err := range after {
		if err != nil && before[ref] == nil {
			t.Errorf("%s pulled before gc, not after: %v", ref, err)
		}
	}
	for ref, err := range before {
		if _, ok := after[ref]; !ok && strings.Contains(ref, ":") && !strings.Contains(ref, "@") {
			t.Errorf("tag %s is gone after gc (pulled before: %v)", ref, err)
		}
	}
}

// writeFile writes a file of the registry's storage, rel below
// docker/registry/v2.
func writeFile(reg *registrytest.Registry, rel, content string) error {
	return os.WriteFile(v2(reg, rel), []byte(content), 0o644)
}

// copyTree copies the directory tree src into a new directory in
// t.TempDir(), keeping modification times, and returns it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	err := filepath.WalkDir(src, func(p string, e os.DirEntry, err error) error {
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
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	return dst
}

// walk walks the registry's storage into a collector.
func walk(t *testing.T, reg *registrytest.Registry) *collector {
	t.Helper()
	c := newCollector()
	if _, err := walker.Walk(context.Background(), openStorage(t, reg), c, walker.Options{}); err != nil {
		t.Fatalf("Walk() error = %v", err)
	}
	return c
}
