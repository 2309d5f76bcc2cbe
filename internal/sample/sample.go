package sample

import (
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/internal/registrytest"
)

// The artifact types of the sample's referrers.
const (
	SignatureType = "application/vnd.dev.cosign.artifact.sig.v1+json"
	SBOMType      = "application/spdx+json"
)

// Populate pushes the sample's content into the registry c talks to, in a
// fixed order from fixed seeds, and then pulls every tag back to check it.
// The content is described in testdata/sample-registry/README.md; change
// both together.
func Populate(c *registrytest.Client) error {
	p := pusher{c: c}
	// One base layer under most images, as real images share a distro base:
	// the same blob is linked from several repositories.
	base := registrytest.Layer(100, 2048)
	day := func(m time.Month, d int) time.Time { return time.Date(2024, m, d, 9, 30, 0, 0, time.UTC) }

	// library/alpine: Docker schema2 images; "latest" moved from 3.18 to
	// 3.19, so its tag history has two entries and nothing is left untagged.
	alpine318 := registrytest.Image(registrytest.ImageOptions{Seed: 1, Base: [][]byte{base}, Created: day(1, 10)})
	alpine319 := registrytest.Image(registrytest.ImageOptions{Seed: 2, Base: [][]byte{base}, Created: day(3, 5)})
	p.push("library/alpine", "3.18", alpine318)
	p.push("library/alpine", "latest", alpine318)
	p.push("library/alpine", "3.19", alpine319)
	p.push("library/alpine", "latest", alpine319)

	// team/api: OCI images with labels. "latest" moved three times; its
	// first target (0.9) is left untagged. v0.8.0 is deleted by digest and
	// v1.2.0-rc1 by tag name. v1.1.0 is signed (a tagged cosign signature)
	// and has an SBOM pushed by digest only.
	api := func(seed int64, version string, created time.Time) *registrytest.Manifest {
		return registrytest.Image(registrytest.ImageOptions{
			Seed: seed, Base: [][]byte{base}, Layers: 2, OCI: true, Created: created,
			Labels: map[string]string{
				"org.opencontainers.image.source":  "https://git.example.com/team/api",
				"org.opencontainers.image.version": version,
			},
		})
	}
	api09 := api(9, "0.9.0", day(2, 1))
	api10 := api(10, "1.0.0", day(3, 1))
	api11 := api(11, "1.1.0", day(4, 1))
	api08 := api(8, "0.8.0", day(1, 20))
	api12rc := api(12, "1.2.0-rc1", day(4, 20))
	p.push("team/api", "latest", api09)
	p.push("team/api", "v1.0.0", api10)
	p.push("team/api", "latest", api10)
	p.push("team/api", "v1.1.0", api11)
	p.push("team/api", "latest", api11)
	p.push("team/api", "v0.8.0", api08)
	p.deleteManifest("team/api", api08.Digest())
	p.push("team/api", "v1.2.0-rc1", api12rc)
	p.deleteTag("team/api", "v1.2.0-rc1")
	sig := registrytest.Artifact(api11, SignatureType)
	p.push("team/api", cosignTag(api11.Digest(), "sig"), sig)
	p.push("team/api", "", registrytest.Artifact(api11, SBOMType))

	// team/api/worker: a multi-arch OCI index (amd64 and arm64 children,
	// pushed by digest and reached only through the index), and an image a
	// CI job pushed by digest only.
	workerAMD := registrytest.Image(registrytest.ImageOptions{Seed: 20, Base: [][]byte{base}, OCI: true, Created: day(4, 10)})
	workerARM := registrytest.Image(registrytest.ImageOptions{Seed: 21, OCI: true, Architecture: "arm64", Variant: "v8", Created: day(4, 10)})
	p.push("team/api/worker", "v2", registrytest.Index(workerAMD, workerARM))
	p.push("team/api/worker", "", registrytest.Image(registrytest.ImageOptions{Seed: 22, Base: [][]byte{base}, OCI: true, Created: day(4, 12)}))

	// tools/builder: a Docker manifest list of schema2 images, a blob no
	// manifest references, and an upload a client abandoned half way.
	builderAMD := registrytest.Image(registrytest.ImageOptions{Seed: 30, Base: [][]byte{base}, Created: day(2, 14)})
	builderARM := registrytest.Image(registrytest.ImageOptions{Seed: 31, Architecture: "arm64", Variant: "v8", Created: day(2, 14)})
	p.push("tools/builder", "1.0", registrytest.ManifestList(builderAMD, builderARM))
	p.pushBlob("tools/builder", registrytest.Layer(32, 1024))
	p.startUpload("tools/builder", registrytest.Layer(33, 1024)[:700])

	// staging/cache: only a blob was ever pushed, so the directory has
	// _layers but no _manifests: not a repository to the catalog or GC.
	p.pushBlob("staging/cache", registrytest.Layer(40, 1024))

	for _, tag := range []struct{ repo, tag string }{
		{"library/alpine", "3.18"}, {"library/alpine", "3.19"}, {"library/alpine", "latest"},
		{"team/api", "v1.0.0"}, {"team/api", "v1.1.0"}, {"team/api", "latest"},
		{"team/api", cosignTag(api11.Digest(), "sig")},
		{"team/api/worker", "v2"}, {"tools/builder", "1.0"},
	} {
		p.pull(tag.repo, tag.tag)
	}
	return p.err
}

// cosignTag is the tag cosign gives an image's signature or attestation.
func cosignTag(d digest.Digest, suffix string) string {
	return fmt.Sprintf("%s-%s.%s", d.Algorithm(), d.Encoded(), suffix)
}

// pusher runs the steps in order and keeps the first error, so that
// Populate reads as the list of what happened to the registry.
type pusher struct {
	c   *registrytest.Client
	err error
}

func (p *pusher) push(repo, tag string, m *registrytest.Manifest) {
	if p.err == nil {
		_, p.err = p.c.Push(repo, tag, m)
	}
}

func (p *pusher) pushBlob(repo string, data []byte) {
	if p.err == nil {
		_, p.err = p.c.PushBlob(repo, data)
	}
}

func (p *pusher) startUpload(repo string, partial []byte) {
	if p.err == nil {
		_, p.err = p.c.StartUpload(repo, partial)
	}
}

func (p *pusher) deleteManifest(repo string, d digest.Digest) {
	if p.err == nil {
		p.err = p.c.DeleteManifest(repo, d)
	}
}

func (p *pusher) deleteTag(repo, tag string) {
	if p.err == nil {
		p.err = p.c.DeleteTag(repo, tag)
	}
}

func (p *pusher) pull(repo, tag string) {
	if p.err == nil {
		_, p.err = p.c.Pull(repo, tag)
	}
}
