package walker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/walker"
)

func mustPush(t *testing.T, reg *registrytest.Registry, repo, ref string, m *registrytest.Manifest) digest.Digest {
	t.Helper()
	d, err := reg.Push(repo, ref, m)
	if err != nil {
		t.Fatalf("push %s:%s: %v", repo, ref, err)
	}
	return d
}

// openRegistryStorage opens a test registry's storage as regsql does: a
// filesystem registry's directory with --root, an object store's through
// its config with --config.
func openRegistryStorage(t *testing.T, reg *registrytest.Registry) walker.Storage {
	t.Helper()
	if reg.Backend() == registrytest.Filesystem {
		st, err := walker.OpenRoot(reg.Root())
		if err != nil {
			t.Fatalf("OpenRoot() error = %v", err)
		}
		return st
	}
	st, _, err := walker.OpenConfig(context.Background(), reg.ConfigPath(), walker.DriverOptions{})
	if err != nil {
		t.Fatalf("OpenConfig() error = %v", err)
	}
	return st
}

// plainStorage hides every fast path of the storage it wraps: the walk
// lists each directory and stats each entry, the slow way every storage
// supports.
type plainStorage struct{ walker.Storage }

// TestWalkRealRegistry pushes to a real registry and expects the walk to
// find exactly what was pushed, and no problem: the walker reads the layout
// the registry writes. The same storage read the plain way, directory by
// directory through the registry's own storage driver, and through its
// config, gives the same records.
func TestWalkRealRegistry(t *testing.T) {
	registrytest.ForEachBackend(t, testWalkRealRegistry)
}

func testWalkRealRegistry(t *testing.T, backend registrytest.Backend) {
	reg := registrytest.Start(t, registrytest.WithBackend(backend))

	base := registrytest.Layer(100, 512)
	amd := registrytest.Image(registrytest.ImageOptions{Seed: 1, OCI: true, Base: [][]byte{base}, Labels: map[string]string{"repo": "alpine"}})
	arm := registrytest.Image(registrytest.ImageOptions{Seed: 2, OCI: true, Architecture: "arm64", Variant: "v8", Labels: map[string]string{"repo": "alpine"}})
	index := mustPush(t, reg, "library/alpine", "3.19", registrytest.Index(amd, arm))
	mustPush(t, reg, "library/alpine", "arm64-only", arm)
	if err := reg.DeleteTag("library/alpine", "arm64-only"); err != nil {
		t.Fatalf("delete tag: %v", err)
	}

	old := mustPush(t, reg, "org/app", "v1", registrytest.Image(registrytest.ImageOptions{Seed: 3, Base: [][]byte{base}, Labels: map[string]string{"repo": "app"}}))
	curImage := registrytest.Image(registrytest.ImageOptions{Seed: 4, Labels: map[string]string{"repo": "app"}})
	cur := mustPush(t, reg, "org/app", "v1", curImage)
	list := mustPush(t, reg, "org/app", "list", registrytest.ManifestList(curImage))
	sig := mustPush(t, reg, "org/app", "", registrytest.Artifact(curImage, "application/vnd.dev.cosign.artifact.sig.v1+json"))
	sub := mustPush(t, reg, "org/app/sub", "latest", registrytest.Image(registrytest.ImageOptions{Seed: 5, Labels: map[string]string{"repo": "sub"}}))
	if _, err := reg.StartUpload("org/app", []byte("partial")); err != nil {
		t.Fatalf("start upload: %v", err)
	}

	st := openRegistryStorage(t, reg)
	rec, _ := walk(t, st)
	if ds, ok := st.(*walker.DriverStorage); ok {
		// The registry writes each link in one PUT: its ETag proves its
		// content, so only manifests, image configs and the uploads'
		// startedat files are read.
		configs := map[digest.Digest]bool{}
		for _, m := range rec.manifests {
			if m.Image != nil {
				configs[m.Config] = true
			}
		}
		req := ds.Requests()
		if want := int64(len(rec.manifests) + len(configs) + len(rec.uploads)); req.Get != want || req.Stat != 0 {
			t.Errorf("Requests() = %+v, want %d gets (%d manifests, %d configs, %d uploads) and no stat", req, want, len(rec.manifests), len(configs), len(rec.uploads))
		}
	}

	if len(rec.problems) != 0 {
		t.Errorf("problems = %+v, want none", rec.problems)
	}
	var repos []string
	for _, r := range rec.repos {
		repos = append(repos, r.Name)
		if !r.Listed || !r.HasLayers {
			t.Errorf("repository %+v, want listed with layers", r)
		}
	}
	if want := []string{"library/alpine", "org/app", "org/app/sub"}; !slices.Equal(repos, want) {
		t.Errorf("repositories = %v, want %v", repos, want)
	}

	var tags []string
	for _, tg := range rec.tags {
		tags = append(tags, fmt.Sprintf("%s:%s@%s", tg.Repo, tg.Name, tg.Digest))
	}
	wantTags := []string{
		"library/alpine:3.19@" + index.String(),
		"org/app/sub:latest@" + sub.String(),
		"org/app:list@" + list.String(),
		"org/app:v1@" + cur.String(),
	}
	slices.Sort(tags)
	slices.Sort(wantTags)
	if !slices.Equal(tags, wantTags) {
		t.Errorf("tags = %v\nwant %v", tags, wantTags)
	}

	wantRevisions := map[string][]digest.Digest{
		"library/alpine": {amd.Digest(), arm.Digest(), index},
		"org/app":        {old, cur, list, sig},
		"org/app/sub":    {sub},
	}
	for repo, want := range wantRevisions {
		var got []digest.Digest
		for _, r := range rec.revisions {
			if r.Repo == repo {
				got = append(got, r.Digest)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("revisions of %s = %v, want %v", repo, got, want)
		}
	}

	var history []digest.Digest
	for _, h := range rec.history {
		if h.Repo == "org/app" && h.Tag == "v1" {
			history = append(history, h.Digest)
		}
	}
	if len(history) != 2 || !slices.Contains(history, old) || !slices.Contains(history, cur) {
		t.Errorf("history of org/app:v1 = %v, want %s and %s", history, old, cur)
	}

	if got, want := len(rec.manifests), 8; got != want {
		t.Errorf("manifests = %d, want %d", got, want)
	}
	for _, m := range rec.manifests {
		switch {
		case m.Digest == sig:
			if m.Subject != cur || m.ArtifactType != "application/vnd.dev.cosign.artifact.sig.v1+json" || m.Image != nil {
				t.Errorf("signature = subject %s, artifactType %q, image %v; want subject %s, its type, no image", m.Subject, m.ArtifactType, m.Image, cur)
			}
		case m.Digest == list:
			if m.Kind != walker.KindIndex || m.MediaType != registrytest.MediaTypeDockerManifestList {
				t.Errorf("manifest list = %s %s, want a Docker manifest list", m.Kind, m.MediaType)
			}
		case m.Kind == walker.KindImage:
			if m.Image == nil || m.Image.Labels["repo"] == "" || !m.Image.Created.Equal(registrytest.DefaultCreated) {
				t.Errorf("image %s config = %+v, want its labels and created time", m.Digest, m.Image)
			}
		}
	}
	arm64 := manifestByDigest(t, rec, arm.Digest())
	if arm64.Image == nil || arm64.Image.Architecture != "arm64" || arm64.Image.Variant != "v8" {
		t.Errorf("arm64 image config = %+v, want arm64 v8", arm64.Image)
	}
	idx := manifestByDigest(t, rec, index)
	if len(idx.References) != 2 || idx.References[1].Platform == nil || idx.References[1].Platform.Architecture != "arm64" || idx.MediaType != v1.MediaTypeImageIndex {
		t.Errorf("index = %s with %+v, want an OCI index with its two platforms", idx.MediaType, idx.References)
	}

	for _, b := range rec.blobs {
		if b.Size <= 0 || b.ModifiedAt.IsZero() {
			t.Errorf("blob %+v, want a size and a time", b)
		}
	}
	wantUploadSize := int64(len("partial"))
	if backend == registrytest.S3 {
		// The s3 driver writes an upload's data as a multipart upload,
		// which is no object until the upload completes.
		wantUploadSize = 0
	}
	if len(rec.uploads) != 1 || rec.uploads[0].Repo != "org/app" || rec.uploads[0].Size != wantUploadSize ||
		time.Since(rec.uploads[0].StartedAt) > time.Hour {
		t.Errorf("uploads = %+v, want the open one in org/app with its size and start time", rec.uploads)
	}

	viaDriver, _ := walk(t, plainStorage{walker.NewDriverStorage(reg.Driver(), walker.DriverOptions{})})
	compareRecords(t, "plain driver", viaDriver, rec)
	cfgStorage, name, err := walker.OpenConfig(context.Background(), reg.ConfigPath(), walker.DriverOptions{})
	if err != nil || name != string(backend) {
		t.Fatalf("OpenConfig() = %s, %v, want the %s driver", name, err, backend)
	}
	viaConfig, _ := walk(t, cfgStorage)
	compareRecords(t, "config", viaConfig, rec)
}
