package deleter

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/queries"
)

// varied is a registry with what real ones hold: images sharing a base
// layer, tags sharing a digest, multi-arch indexes and a Docker manifest
// list, signatures and SBOMs, the same image in two repositories. Pushing
// it twice gives two identical storages.
type varied struct {
	cands []queries.Candidate
	opts  PlanOptions
	// gone are the tags the plan deletes; every other tag stays.
	gone []string
	// refused are the candidates the plan refuses, and why.
	refused map[string]Reason
}

func pushVaried(t *testing.T, reg *registrytest.Registry) varied {
	t.Helper()
	base := registrytest.Layer(100, 2048)

	// A release train sharing a base layer; v3 and stable share a digest.
	push(t, reg, "team/api", img(1, base), "v1")
	push(t, reg, "team/api", img(2, base), "v2")
	push(t, reg, "team/api", img(3, base), "v3", "stable")
	push(t, reg, "team/api", img(4, base), "v4", "latest")
	// The same v1 in another repository: its blobs stay.
	push(t, reg, "mirror/api", img(1, base), "v1")

	// Multi-arch releases, signed, with an SBOM of one platform.
	amd10, arm10 := arch(10, "amd64", base), arch(11, "arm64", base)
	web10 := registrytest.Index(amd10, arm10)
	web11 := registrytest.Index(arch(12, "amd64", base), arch(13, "arm64", base))
	push(t, reg, "team/web", web10, "1.0")
	push(t, reg, "team/web", web11, "1.1", "latest")
	push(t, reg, "team/web", registrytest.Artifact(web10, sigType))
	push(t, reg, "team/web", registrytest.Artifact(amd10, sbomType))
	push(t, reg, "team/web", registrytest.Artifact(web11, sigType))

	// A Docker manifest list and a plain image.
	list := registrytest.ManifestList(
		registrytest.Image(registrytest.ImageOptions{Seed: 20}),
		registrytest.Image(registrytest.ImageOptions{Seed: 21, Architecture: "arm64"}))
	next := registrytest.Image(registrytest.ImageOptions{Seed: 22})
	push(t, reg, "team/worker", list, "2024.01")
	push(t, reg, "team/worker", next, "2024.02", "current")

	return varied{
		cands: []queries.Candidate{
			tagRow("team/api", "v1"),
			tagRow("team/api", "v2"),
			tagRow("team/api", "v3"), // stable keeps the manifest: tag only
			tagRow("team/api", "latest"),
			tagRow("team/web", "1.0"), // the index, its children, their referrers
			pinnedRow("mirror/api", "v1", digest.FromString("not what it names")),
			tagRow("team/worker", "2024.01"),
			digestRow("team/worker", next.Digest()), // would take current
		},
		opts: PlanOptions{Protect: []string{DefaultProtect}, WithReferrers: true},
		gone: []string{"team/api:v1", "team/api:v2", "team/api:v3", "team/web:1.0", "team/worker:2024.01"},
		refused: map[string]Reason{
			"team/api:latest": ReasonProtected,
			"mirror/api:v1@" + digest.FromString("not what it names").String(): ReasonStale,
			"team/worker@" + next.Digest().String():                            ReasonSharedDigest,
		},
	}
}

// template holds the varied registry's storage, pushed once per test
// binary (pushing is the slow part of these tests) and copied for each test
// that needs one.
var template struct {
	once sync.Once
	dir  string
	v    varied
	err  error
}

// variedRegistry starts a registry on a fresh copy of the varied storage.
func variedRegistry(t *testing.T) (*registrytest.Registry, varied) {
	t.Helper()
	return variedRegistryOn(t, registrytest.Filesystem)
}

// variedRegistryOn starts a registry with backend b on a fresh copy of the
// varied storage: the same files on the filesystem or in a bucket.
func variedRegistryOn(t *testing.T, b registrytest.Backend) (*registrytest.Registry, varied) {
	t.Helper()
	template.once.Do(func() {
		dir, err := os.MkdirTemp("", "deleter-varied-")
		if err != nil {
			template.err = err
			return
		}
		template.dir = filepath.Join(dir, "storage")
		reg, err := registrytest.New(registrytest.WithRoot(template.dir))
		if err != nil {
			template.err = err
			return
		}
		defer reg.Close()
		template.v = pushVaried(t, reg)
	})
	if template.err != nil || template.dir == "" {
		t.Fatalf("push the varied registry: %v", template.err)
	}
	return registrytest.Start(t, registrytest.WithBackend(b), registrytest.WithStorageFrom(template.dir)), template.v
}

func TestMain(m *testing.M) {
	code := m.Run()
	if template.dir != "" {
		os.RemoveAll(filepath.Dir(template.dir))
	}
	os.Exit(code)
}
