package registrytest_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/regsql/regsql/internal/registrytest"
)

func TestPushPull(t *testing.T) {
	reg := registrytest.Start(t)
	base := registrytest.Layer(7, 512)
	amd := registrytest.Image(registrytest.ImageOptions{Seed: 2, OCI: true, Base: [][]byte{base}})
	arm := registrytest.Image(registrytest.ImageOptions{Seed: 3, OCI: true, Base: [][]byte{base}, Architecture: "arm64", Variant: "v8"})
	signed := registrytest.Image(registrytest.ImageOptions{Seed: 4})

	tests := []struct {
		name     string
		repo     string
		tag      string
		manifest *registrytest.Manifest
	}{
		{name: "docker schema2", repo: "library/alpine", tag: "3.19", manifest: registrytest.Image(registrytest.ImageOptions{Seed: 1, Layers: 2})},
		{name: "oci image", repo: "team/api", tag: "v1", manifest: amd},
		{name: "oci index", repo: "team/api", tag: "multi", manifest: registrytest.Index(amd, arm)},
		{name: "docker manifest list", repo: "team/api/worker", tag: "list", manifest: registrytest.ManifestList(
			registrytest.Image(registrytest.ImageOptions{Seed: 5}),
			registrytest.Image(registrytest.ImageOptions{Seed: 6, Architecture: "arm64"}))},
		{name: "artifact with subject", repo: "tools/builder", tag: "sig", manifest: registrytest.Artifact(signed, "application/vnd.dev.cosign.artifact.sig.v1+json")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.manifest.ArtifactType != "" {
				if _, err := reg.Push(tt.repo, "signed", signed); err != nil {
					t.Fatal(err)
				}
			}
			want := tt.manifest.Digest()
			got, err := reg.Push(tt.repo, tt.tag, tt.manifest)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("Push() = %s, want %s", got, want)
			}
			if got, err := reg.Pull(tt.repo, tt.tag); err != nil || got != want {
				t.Errorf("Pull() = %s, %v, want %s", got, err, want)
			}
			if got, err := reg.HeadManifest(tt.repo, tt.tag); err != nil || got != want {
				t.Errorf("HeadManifest() = %s, %v, want %s", got, err, want)
			}
			mediaType, body, err := reg.GetManifest(tt.repo, want.String())
			if err != nil {
				t.Fatal(err)
			}
			if mediaType != tt.manifest.MediaType || !bytes.Equal(body, tt.manifest.Body) {
				t.Errorf("GetManifest() = %s, %d bytes, want %s, %d bytes", mediaType, len(body), tt.manifest.MediaType, len(tt.manifest.Body))
			}
			tags, err := reg.Tags(tt.repo)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(tags, tt.tag) {
				t.Errorf("Tags(%q) = %v, want it to hold %q", tt.repo, tags, tt.tag)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	reg := registrytest.Start(t)
	const repo = "team/api"
	img := registrytest.Image(registrytest.ImageOptions{Seed: 1})
	other := registrytest.Image(registrytest.ImageOptions{Seed: 2})
	d := mustPush(t, reg, repo, "v1", img)
	mustPush(t, reg, repo, "latest", img)
	mustPush(t, reg, repo, "v2", other)

	// A tag deleted by name leaves its manifest as an untagged revision.
	if err := reg.DeleteTag(repo, "v1"); err != nil {
		t.Fatal(err)
	}
	assertTags(t, reg, repo, []string{"latest", "v2"})
	if _, err := reg.HeadManifest(repo, "v1"); registrytest.StatusCode(err) != http.StatusNotFound {
		t.Errorf("HeadManifest(v1) after DeleteTag: err = %v, want a 404", err)
	}
	if _, err := reg.Pull(repo, d.String()); err != nil {
		t.Errorf("Pull(%s) after DeleteTag: %v", d, err)
	}

	// A manifest deleted by digest takes its remaining tags with it.
	if err := reg.DeleteManifest(repo, d); err != nil {
		t.Fatal(err)
	}
	assertTags(t, reg, repo, []string{"v2"})
	if _, err := reg.HeadManifest(repo, d.String()); registrytest.StatusCode(err) != http.StatusNotFound {
		t.Errorf("HeadManifest(%s) after DeleteManifest: err = %v, want a 404", d, err)
	}
	if _, err := reg.Pull(repo, "v2"); err != nil {
		t.Errorf("Pull(v2): %v", err)
	}

	// Deleting a blob removes the repository's layer link only.
	cfg := digest.FromBytes(other.Config)
	if err := reg.DeleteBlob(repo, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.GetBlob(repo, cfg); registrytest.StatusCode(err) != http.StatusNotFound {
		t.Errorf("GetBlob() after DeleteBlob: err = %v, want a 404", err)
	}
	blob := filepath.Join(reg.Root(), "docker/registry/v2/blobs/sha256", cfg.Encoded()[:2], cfg.Encoded(), "data")
	if _, err := os.Stat(blob); err != nil {
		t.Errorf("blob data after DeleteBlob: %v, want it kept", err)
	}
}

func TestCatalogPagination(t *testing.T) {
	reg := registrytest.Start(t, registrytest.WithCatalogMaxEntries(2))
	want := []string{"a", "b/c", "b/c/d", "e", "f/g"}
	img := registrytest.Image(registrytest.ImageOptions{Seed: 1})
	for _, repo := range want {
		mustPush(t, reg, repo, "latest", img)
	}
	// A repository holding only a blob is not a repository to the catalog.
	if _, err := reg.PushBlob("blobonly", []byte("orphan")); err != nil {
		t.Fatal(err)
	}
	for _, pageSize := range []int{0, 1, 2} {
		reg.PageSize = pageSize
		got, err := reg.Catalog()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Catalog() with page size %d = %v, want %v", pageSize, got, want)
		}
	}
}

func TestTagsPagination(t *testing.T) {
	reg := registrytest.Start(t)
	img := registrytest.Image(registrytest.ImageOptions{Seed: 1})
	want := []string{"1", "2", "3", "4", "5"}
	for _, tag := range want {
		mustPush(t, reg, "app", tag, img)
	}
	reg.PageSize = 2
	assertTags(t, reg, "app", want)
}

func TestStartUpload(t *testing.T) {
	reg := registrytest.Start(t)
	tests := []struct {
		name    string
		partial []byte
	}{
		{name: "empty", partial: nil},
		{name: "with a chunk", partial: []byte("half a layer")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uuid, err := reg.StartUpload("team/api", tt.partial)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(reg.Root(), "docker/registry/v2/repositories/team/api/_uploads", uuid)
			if _, err := os.Stat(filepath.Join(dir, "startedat")); err != nil {
				t.Errorf("startedat of the upload: %v", err)
			}
			fi, err := os.Stat(filepath.Join(dir, "data"))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fi.Size(), int64(len(tt.partial)); got != want {
				t.Errorf("upload data size = %d, want %d", got, want)
			}
		})
	}
}

func TestImageIsDeterministic(t *testing.T) {
	base := registrytest.Layer(9, 256)
	opts := registrytest.ImageOptions{Seed: 3, Layers: 2, Base: [][]byte{base}, Labels: map[string]string{"b": "2", "a": "1"}}
	a, b := registrytest.Image(opts), registrytest.Image(opts)
	if a.Digest() != b.Digest() {
		t.Errorf("Image() twice = %s and %s, want equal digests", a.Digest(), b.Digest())
	}
	opts.Seed = 4
	c := registrytest.Image(opts)
	if c.Digest() == a.Digest() {
		t.Errorf("Image() with another seed = %s, want a different digest", c.Digest())
	}
	if !bytes.Equal(c.Layers[0], a.Layers[0]) || bytes.Equal(c.Layers[1], a.Layers[1]) {
		t.Errorf("Image() layers: want the base shared and the generated layers different")
	}
	if got, want := len(a.Layers), 3; got != want {
		t.Errorf("len(Image().Layers) = %d, want %d", got, want)
	}
}

func TestArtifact(t *testing.T) {
	img := registrytest.Image(registrytest.ImageOptions{Seed: 1})
	art := registrytest.Artifact(img, "application/spdx+json")
	if art.MediaType != v1.MediaTypeImageManifest || art.ArtifactType != "application/spdx+json" {
		t.Errorf("Artifact() = %s of %s, want an OCI manifest of application/spdx+json", art.MediaType, art.ArtifactType)
	}
	if got, want := string(art.Config), "{}"; got != want {
		t.Errorf("Artifact() config = %q, want %q", got, want)
	}
	if !bytes.Contains(art.Body, []byte(`"subject":{"mediaType":"`+img.MediaType+`","digest":"`+img.Digest().String())) {
		t.Errorf("Artifact() body = %s, want a subject naming %s", art.Body, img.Digest())
	}
}

func TestConfigAndDriver(t *testing.T) {
	reg := registrytest.Start(t)
	d := mustPush(t, reg, "app", "v1", registrytest.Image(registrytest.ImageOptions{Seed: 1}))

	f, err := os.Open(reg.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := configuration.Parse(f)
	if err != nil {
		t.Fatalf("Parse(ConfigPath()) = %v", err)
	}
	if got, want := cfg.Storage.Parameters()["rootdirectory"], reg.Root(); got != want {
		t.Errorf("rootdirectory = %v, want %v", got, want)
	}

	got, err := reg.Driver().GetContent(context.Background(), "/docker/registry/v2/repositories/app/_manifests/tags/v1/current/link")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != d.String() {
		t.Errorf("Driver().GetContent(tag link) = %q, want %q", got, d)
	}
}

func mustPush(t *testing.T, reg *registrytest.Registry, repo, tag string, m *registrytest.Manifest) digest.Digest {
	t.Helper()
	d, err := reg.Push(repo, tag, m)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func assertTags(t *testing.T, reg *registrytest.Registry, repo string, want []string) {
	t.Helper()
	got, err := reg.Tags(repo)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Tags(%q) = %v, want %v", repo, got, want)
	}
}
