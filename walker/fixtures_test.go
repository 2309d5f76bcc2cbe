package walker_test

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/regsql/regsql/walker"
)

var update = flag.Bool("update", false, "rewrite walker/testdata fixtures from their recipes")

// v2 is where a fixture's storage lives below its directory, as below a
// registry's rootdirectory.
const v2 = "docker/registry/v2"

// storageTree is registry storage as files: path below the v2 root →
// content. The recipes below build one per behaviour; the committed
// walker/testdata/<behaviour>/ trees are what they produce, so every digest
// in them is the real digest of its data.
type storageTree map[string][]byte

// blob stores content as a blob and returns its digest.
func (s storageTree) blob(content []byte) digest.Digest {
	d := digest.FromBytes(content)
	s[blobPath(d)] = content
	return d
}

func blobPath(d digest.Digest) string {
	h := d.Encoded()
	return "blobs/" + string(d.Algorithm()) + "/" + h[:2] + "/" + h + "/data"
}

func (s storageTree) link(p string, d digest.Digest) { s[p] = []byte(d) }

func repoPath(repo string) string { return "repositories/" + repo }

func revisionPath(repo string, d digest.Digest) string {
	return repoPath(repo) + "/_manifests/revisions/" + string(d.Algorithm()) + "/" + d.Encoded() + "/link"
}

func tagCurrentPath(repo, tag string) string {
	return repoPath(repo) + "/_manifests/tags/" + tag + "/current/link"
}

func tagIndexPath(repo, tag string, d digest.Digest) string {
	return repoPath(repo) + "/_manifests/tags/" + tag + "/index/" + string(d.Algorithm()) + "/" + d.Encoded() + "/link"
}

func layerPath(repo string, d digest.Digest) string {
	return repoPath(repo) + "/_layers/" + string(d.Algorithm()) + "/" + d.Encoded() + "/link"
}

func (s storageTree) revision(repo string, d digest.Digest) { s.link(revisionPath(repo, d), d) }
func (s storageTree) layer(repo string, d digest.Digest)    { s.link(layerPath(repo, d), d) }

// tag points a tag at d as a push does: current/link and a history entry.
func (s storageTree) tag(repo, tag string, d digest.Digest) {
	s.link(tagCurrentPath(repo, tag), d)
	s.link(tagIndexPath(repo, tag, d), d)
}

// manifest stores a manifest body and links it as a revision of repo.
func (s storageTree) manifest(repo string, body []byte) digest.Digest {
	d := s.blob(body)
	s.revision(repo, d)
	return d
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func imageConfig(arch string, labels map[string]string) []byte {
	return mustJSON(map[string]any{
		"created":      "2024-05-01T12:00:00Z",
		"os":           "linux",
		"architecture": arch,
		"config":       map[string]any{"Labels": labels},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{}},
	})
}

func descriptor(mediaType string, content []byte) v1.Descriptor {
	return v1.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(content), Size: int64(len(content))}
}

// image pushes an OCI image with one layer to repo as a client does: the
// config and layer blobs with their layer links, then the manifest.
func (s storageTree) image(repo, arch string, layer []byte) digest.Digest {
	cfg := imageConfig(arch, map[string]string{"org.opencontainers.image.title": repo})
	s.layer(repo, s.blob(cfg))
	s.layer(repo, s.blob(layer))
	return s.manifest(repo, mustJSON(v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    descriptor(v1.MediaTypeImageConfig, cfg),
		Layers:    []v1.Descriptor{descriptor(v1.MediaTypeImageLayerGzip, layer)},
	}))
}

// fixtureUploadUUID and friends are fixed so that recipes are reproducible.
const (
	fixtureUploadUUID = "5f1bd3ec-2f8a-4b8e-9a0e-6a4a3c1c2b7d"
	fixtureTmpUUID    = "8b2e7c1a-3d4f-4e5a-b6c7-d8e9f0a1b2c3"
	fixtureStartedAt  = "2024-05-02T08:30:00Z"
)

// recipes build the storage of each fixture, named after the behaviour it
// shows.
var recipes = map[string]func(s storageTree){
	"healthy": func(s storageTree) {
		base := []byte("base layer shared by every image")
		amd := s.image("library/alpine", "amd64", base)
		arm := s.image("library/alpine", "arm64", []byte("arm64 layer"))
		amdBody, armBody := s[blobPath(amd)], s[blobPath(arm)]
		index := s.manifest("library/alpine", mustJSON(v1.Index{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: v1.MediaTypeImageIndex,
			Manifests: []v1.Descriptor{
				withPlatform(descriptor(v1.MediaTypeImageManifest, amdBody), "amd64", ""),
				withPlatform(descriptor(v1.MediaTypeImageManifest, armBody), "arm64", "v8"),
			},
		}))
		s.tag("library/alpine", "3.19", index)
		s.tag("library/alpine", "latest", index)

		// org/app: a Docker image retagged once, so v1's history has both.
		old := s.dockerImage("org/app", base, []byte("app layer 1"))
		cur := s.dockerImage("org/app", base, []byte("app layer 2"))
		s.tag("org/app", "v1", old)
		s.tag("org/app", "v1", cur)
		// A signature of the current image: an OCI artifact with a subject.
		empty := []byte("{}")
		s.layer("org/app", s.blob(empty))
		payload := []byte(`{"critical":{"image":{"docker-manifest-digest":"` + string(cur) + `"}}}`)
		s.layer("org/app", s.blob(payload))
		curBody := s[blobPath(cur)]
		subject := descriptor("application/vnd.docker.distribution.manifest.v2+json", curBody)
		s.manifest("org/app", mustJSON(v1.Manifest{
			Versioned:    specs.Versioned{SchemaVersion: 2},
			MediaType:    v1.MediaTypeImageManifest,
			ArtifactType: "application/vnd.dev.cosign.artifact.sig.v1+json",
			Config:       descriptor(v1.MediaTypeEmptyJSON, empty),
			Layers:       []v1.Descriptor{descriptor("application/vnd.dev.cosign.simplesigning.v1+json", payload)},
			Subject:      &subject,
		}))
		up := repoPath("org/app") + "/_uploads/" + fixtureUploadUUID
		s[up+"/startedat"] = []byte(fixtureStartedAt)
		s[up+"/data"] = []byte("partial upload")
		s[up+"/hashstates/sha256/14"] = []byte("hash state")
	},
	"dangling-tag-link": func(s storageTree) {
		s.tag("app", "v1", s.image("app", "amd64", []byte("layer")))
		s.link(tagCurrentPath("app", "v2"), digest.FromString("a manifest that was never stored"))
	},
	"link-trailing-newline": func(s storageTree) {
		d := s.image("app", "amd64", []byte("layer"))
		s.tag("app", "v1", d)
		s[tagCurrentPath("app", "v1")] = []byte(string(d) + "\n")
	},
	"revision-missing-blob": func(s storageTree) {
		s.revision("app", digest.FromString("a manifest whose blob is gone"))
	},
	"truncated-manifest": func(s storageTree) {
		cfg := s.blob(imageConfig("amd64", nil))
		full := mustJSON(v1.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: v1.MediaTypeImageManifest,
			Config:    v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: cfg},
		})
		s.manifest("app", full[:len(full)/2])
	},
	"schema1-manifest": func(s storageTree) {
		layer := s.blob([]byte("schema1 layer"))
		s.layer("app", layer)
		d := s.manifest("app", mustJSON(map[string]any{
			"schemaVersion": 1,
			"name":          "app",
			"tag":           "old",
			"architecture":  "amd64",
			"fsLayers":      []map[string]any{{"blobSum": layer}},
			"history":       []map[string]any{{"v1Compatibility": "{}"}},
			"signatures":    []map[string]any{{"header": map[string]any{"alg": "ES256"}, "signature": "c2ln", "protected": "cHJv"}},
		}))
		s.tag("app", "old", d)
	},
	"unknown-media-type": func(s storageTree) {
		blob := s.blob([]byte("artifact blob"))
		s.layer("app", blob)
		s.manifest("app", mustJSON(map[string]any{
			"schemaVersion": 2,
			"mediaType":     "application/vnd.oci.artifact.manifest.v1+json",
			"artifactType":  "application/example",
			"blobs":         []v1.Descriptor{{MediaType: "application/octet-stream", Digest: blob, Size: 13}},
		}))
	},
	"layers-only-repo": func(s storageTree) {
		s.layer("ghost", s.blob([]byte("pushed but never given a manifest")))
	},
	"stray-tmp-file": func(s storageTree) {
		d := s.image("app", "amd64", []byte("layer"))
		s[strings.TrimSuffix(revisionPath("app", d), "link")+"link."+fixtureTmpUUID+".tmp"] = []byte(d)
		// A tag's directory is listed only with Verify too.
		s.tag("app", "v1", d)
		s[strings.TrimSuffix(tagCurrentPath("app", "v1"), "current/link")+"current."+fixtureTmpUUID+".tmp"] = []byte(d)
	},
	"nested-repos": func(s storageTree) {
		s.tag("org/app", "v1", s.image("org/app", "amd64", []byte("app layer")))
		s.tag("org/app/sub", "v1", s.image("org/app/sub", "amd64", []byte("sub layer")))
	},
	"alias-revision": func(s storageTree) {
		body := mustJSON(v1.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: v1.MediaTypeImageManifest,
			Config:    descriptor(v1.MediaTypeEmptyJSON, []byte("{}")),
		})
		s.blob([]byte("{}"))
		d := s.blob(body)
		sum := sha512.Sum512(body)
		alias := digest.NewDigestFromEncoded(digest.SHA512, hex.EncodeToString(sum[:]))
		s.link(revisionPath("app", alias), d)
	},
	// Behaviours beyond the required set.
	"invalid-repo-name": func(s storageTree) {
		s.image("Org/App", "amd64", []byte("layer"))
	},
	"bad-upload": func(s storageTree) {
		up := repoPath("app") + "/_uploads/"
		s[up+"aaaaaaaa-0000-0000-0000-000000000001/startedat"] = []byte("yesterday")
		s[up+"aaaaaaaa-0000-0000-0000-000000000001/data"] = []byte("123")
		s[up+"aaaaaaaa-0000-0000-0000-000000000002/data"] = []byte("12345")
		s.image("app", "amd64", []byte("layer"))
	},
	"missing-link": func(s storageTree) {
		d := s.image("app", "amd64", []byte("layer"))
		// A crash between writing the temporary file and renaming it.
		s[strings.TrimSuffix(tagCurrentPath("app", "v1"), "link")+"link."+fixtureTmpUUID+".tmp"] = []byte(d)
	},
	"config-invalid": func(s storageTree) {
		cfg := []byte("not json at all")
		s.layer("app", s.blob(cfg))
		s.manifest("app", mustJSON(v1.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: v1.MediaTypeImageManifest,
			Config:    descriptor(v1.MediaTypeImageConfig, cfg),
		}))
		// A config that is missing altogether.
		s.manifest("other", mustJSON(v1.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: v1.MediaTypeImageManifest,
			Config:    descriptor(v1.MediaTypeImageConfig, []byte("a config never pushed")),
		}))
	},
	"bad-blob-path": func(s storageTree) {
		s.blob([]byte("a good blob"))
		good := digest.FromString("misplaced")
		s["blobs/sha256/zz/"+good.Encoded()+"/data"] = []byte("misplaced")
		s["blobs/md5/d4/d41d8cd98f00b204e9800998ecf8427e/data"] = []byte("")
		s["blobs/sha256/"+good.Encoded()[:2]+"/NOTHEX/data"] = []byte("x")
	},
	"index-without-media-type": func(s storageTree) {
		amd := s.image("app", "amd64", []byte("layer"))
		s.manifest("app", mustJSON(v1.Index{
			Versioned: specs.Versioned{SchemaVersion: 2},
			Manifests: []v1.Descriptor{withPlatform(descriptor(v1.MediaTypeImageManifest, s[blobPath(amd)]), "amd64", "")},
		}))
	},
}

func withPlatform(d v1.Descriptor, arch, variant string) v1.Descriptor {
	d.Platform = &v1.Platform{OS: "linux", Architecture: arch, Variant: variant}
	return d
}

// dockerImage pushes a Docker schema2 image with the given layers.
func (s storageTree) dockerImage(repo string, layers ...[]byte) digest.Digest {
	cfg := imageConfig("amd64", map[string]string{"maintainer": "regsql"})
	s.layer(repo, s.blob(cfg))
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.docker.distribution.manifest.v2+json",
		"config":        descriptor("application/vnd.docker.container.image.v1+json", cfg),
	}
	var ls []v1.Descriptor
	for _, l := range layers {
		s.layer(repo, s.blob(l))
		ls = append(ls, descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", l))
	}
	m["layers"] = ls
	return s.manifest(repo, mustJSON(m))
}

func build(name string) storageTree {
	s := storageTree{}
	recipes[name](s)
	return s
}

// readTree reads the files below dir into a storageTree.
func readTree(t *testing.T, dir string) storageTree {
	t.Helper()
	s := storageTree{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		s[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return s
}

// openTree writes s as the storage of a registry in a new directory and
// opens it.
func openTree(t testing.TB, s storageTree) *walker.DirStorage {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, filepath.Join(dir, v2), s)
	st, err := walker.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// writeTree writes s as the v2 root below dir.
func writeTree(t testing.TB, dir string, s storageTree) {
	t.Helper()
	for p, b := range s {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFixturesMatchRecipes keeps walker/testdata honest: each committed tree
// is exactly what its recipe builds. Run with -update to rewrite them.
func TestFixturesMatchRecipes(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(recipes)) {
		t.Run(name, func(t *testing.T) {
			want := build(name)
			dir := filepath.Join("testdata", name, v2)
			if *update {
				if err := os.RemoveAll(filepath.Join("testdata", name)); err != nil {
					t.Fatal(err)
				}
				writeTree(t, dir, want)
			}
			got := readTree(t, dir)
			for p, b := range want {
				if g, ok := got[p]; !ok {
					t.Errorf("%s: missing %s (run go test ./walker -run TestFixturesMatchRecipes -update)", name, p)
				} else if !bytes.Equal(g, b) {
					t.Errorf("%s: %s = %q, want %q", name, p, g, b)
				}
			}
			for p := range got {
				if _, ok := want[p]; !ok {
					t.Errorf("%s: unexpected file %s", name, p)
				}
			}
		})
	}
}
