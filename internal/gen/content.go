package gen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types the generated manifests use; the OCI ones come from v1.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaTypeInToto             = "application/vnd.in-toto+json"
)

// blob is content as the registry stores it: data under its sha256. A
// shared blob belongs to the upstream catalog (base images): several
// repositories may use it, so it is written once, after every repository,
// with the time of its first use anywhere.
type blob struct {
	digest    digest.Digest
	data      []byte
	mediaType string // of a config or manifest; layers get theirs from the manifest
	shared    bool
}

func newBlob(mediaType string, data []byte, shared bool) *blob {
	return &blob{digest: digest.FromBytes(data), data: data, mediaType: mediaType, shared: shared}
}

func (b *blob) descriptor(mediaType string) v1.Descriptor {
	return v1.Descriptor{MediaType: mediaType, Digest: b.digest, Size: int64(len(b.data))}
}

// layer is a layer blob and the digest of its "uncompressed" content, which
// the image config lists among its diff_ids.
type layer struct {
	*blob
	diffID    digest.Digest
	createdBy string
	created   time.Time
}

// newLayer makes a small layer: a header naming key (so that no two layers
// collide) and size-len(header) pseudo-random bytes. The bytes are not a
// real tar.gz: clients verify digests and sizes, nothing more, and sizes
// matter here only as numbers.
func newLayer(r *rand.Rand, key string, size int, shared bool, createdBy string, created time.Time) layer {
	data := make([]byte, 0, max(size, len(key)+8))
	data = append(data, "layer "...)
	data = append(data, key...)
	data = append(data, '\n')
	for len(data) < size {
		data = append(data, byte(r.Uint32()))
	}
	return layer{
		blob:      newBlob("", data, shared),
		diffID:    digest.FromBytes(append([]byte("diff "), data...)),
		createdBy: createdBy,
		created:   created,
	}
}

// manifest is a manifest body and what a client pushes with it: an
// image's config and layers, an index's children.
type manifest struct {
	*blob
	config       *blob
	layers       []*blob
	children     []*manifest
	platform     *v1.Platform
	artifactType string
	annotations  map[string]string // on the manifest's entry in an index
	subject      digest.Digest
}

func (m *manifest) isIndex() bool {
	return m.mediaType == v1.MediaTypeImageIndex || m.mediaType == mediaTypeDockerManifestList
}

func (m *manifest) isArtifact() bool { return m.subject != "" }

// entry is m's descriptor in an index.
func (m *manifest) entry() v1.Descriptor {
	d := m.descriptor(m.mediaType)
	d.Platform = m.platform
	d.ArtifactType = m.artifactType
	d.Annotations = m.annotations
	return d
}

// imageSpec says what an image holds.
type imageSpec struct {
	oci      bool
	platform v1.Platform
	created  time.Time
	layers   []layer
	labels   map[string]string
	env      []string
	cmd      []string
	workdir  string
	shared   bool
}

// buildImage makes an image's config and manifest. Docker manifests are
// indented with three spaces, as the docker CLI writes them; OCI ones are
// compact, as BuildKit writes them: parsers meet both.
func buildImage(s imageSpec) *manifest {
	cfg := v1.Image{
		Created:  &s.created,
		Platform: s.platform,
		Config: v1.ImageConfig{
			Env:        s.env,
			Cmd:        s.cmd,
			WorkingDir: s.workdir,
			Labels:     s.labels,
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	for _, l := range s.layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
		created := l.created
		cfg.History = append(cfg.History, v1.History{Created: &created, CreatedBy: l.createdBy})
	}
	if len(s.cmd) > 0 {
		created := s.created
		cfg.History = append(cfg.History, v1.History{
			Created:    &created,
			CreatedBy:  fmt.Sprintf("CMD %q", s.cmd),
			EmptyLayer: true,
		})
	}

	mediaType, configType, layerType := mediaTypeDockerManifest, mediaTypeDockerConfig, mediaTypeDockerLayer
	if s.oci {
		mediaType, configType, layerType = v1.MediaTypeImageManifest, v1.MediaTypeImageConfig, v1.MediaTypeImageLayerGzip
	}
	config := newBlob(configType, mustJSON(cfg), s.shared)
	body := v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: mediaType,
		Config:    config.descriptor(configType),
	}
	m := &manifest{config: config}
	for _, l := range s.layers {
		body.Layers = append(body.Layers, l.descriptor(layerType))
		m.layers = append(m.layers, l.blob)
	}
	var data []byte
	if s.oci {
		data = mustJSON(body)
	} else {
		data = mustJSONIndent(body)
	}
	m.blob = newBlob(mediaType, data, s.shared)
	platform := s.platform
	m.platform = &platform
	return m
}

// buildIndex makes an OCI index (or a Docker manifest list when oci is
// false) of children, each listed with its platform.
func buildIndex(oci bool, children []*manifest, shared bool) *manifest {
	mediaType := mediaTypeDockerManifestList
	if oci {
		mediaType = v1.MediaTypeImageIndex
	}
	body := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: mediaType}
	for _, c := range children {
		body.Manifests = append(body.Manifests, c.entry())
	}
	data := mustJSON(body)
	if !oci {
		data = mustJSONIndent(body)
	}
	return &manifest{blob: newBlob(mediaType, data, shared), children: children}
}

// emptyConfig is the OCI empty descriptor's content, the config of every
// artifact; one blob shared by all of them.
var emptyConfig = newBlob(v1.MediaTypeEmptyJSON, []byte("{}"), true)

// artifactKind is a kind of OCI artifact attached to an image.
type artifactKind struct {
	artifactType string
	layerType    string
	tagSuffix    string // cosign's tag scheme: sha256-<hex>.<suffix>
}

var (
	signature   = artifactKind{"application/vnd.dev.sigstore.bundle.v0.3+json", "application/vnd.dev.sigstore.bundle.v0.3+json", "sig"}
	attestation = artifactKind{"application/vnd.dev.sigstore.bundle.v0.3+json", mediaTypeInToto, "att"}
	sbom        = artifactKind{"application/spdx+json", "application/spdx+json", "sbom"}
	notation    = artifactKind{"application/vnd.cncf.notary.signature", "application/jose+json", "sig"}
)

// buildArtifact makes an OCI artifact about subject: artifactType set, the
// empty config, one small payload layer, and subject pointing at it.
func buildArtifact(r *rand.Rand, kind artifactKind, subject *manifest, created time.Time, key string) *manifest {
	payload := mustJSON(map[string]any{
		"subject":   subject.digest.String(),
		"predicate": kind.artifactType,
		"id":        key,
		"nonce":     randomHex(r, between(r, 8, 64)),
	})
	layerBlob := newBlob("", payload, false)
	sub := subject.descriptor(subject.mediaType)
	annotations := map[string]string{v1.AnnotationCreated: created.Format(time.RFC3339)}
	body := v1.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: kind.artifactType,
		Config:       v1.DescriptorEmptyJSON,
		Layers:       []v1.Descriptor{layerBlob.descriptor(kind.layerType)},
		Subject:      &sub,
		Annotations:  annotations,
	}
	return &manifest{
		blob:         newBlob(v1.MediaTypeImageManifest, mustJSON(body), false),
		config:       emptyConfig,
		layers:       []*blob{layerBlob},
		artifactType: kind.artifactType,
		annotations:  annotations,
		subject:      subject.digest,
	}
}

// buildAttestationManifest makes what BuildKit adds to a multi-platform
// index for each image: a manifest for platform unknown/unknown holding an
// in-toto provenance statement about child.
func buildAttestationManifest(r *rand.Rand, child *manifest, key string) *manifest {
	statement := newBlob("", mustJSON(map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": "https://slsa.dev/provenance/v0.2",
		"subject":       []map[string]any{{"digest": map[string]string{"sha256": child.digest.Encoded()}}},
		"id":            key,
		"nonce":         randomHex(r, between(r, 8, 48)),
	}), false)
	cfg := map[string]any{
		"architecture": "unknown",
		"os":           "unknown",
		"config":       map[string]any{},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{statement.digest.String()}},
	}
	config := newBlob(v1.MediaTypeImageConfig, mustJSON(cfg), false)
	layerDesc := statement.descriptor(mediaTypeInToto)
	layerDesc.Annotations = map[string]string{"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}
	body := v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    config.descriptor(v1.MediaTypeImageConfig),
		Layers:    []v1.Descriptor{layerDesc},
	}
	return &manifest{
		blob:     newBlob(v1.MediaTypeImageManifest, mustJSON(body), false),
		config:   config,
		layers:   []*blob{statement},
		platform: &v1.Platform{Architecture: "unknown", OS: "unknown"},
		annotations: map[string]string{
			"vnd.docker.reference.digest": child.digest.String(),
			"vnd.docker.reference.type":   "attestation-manifest",
		},
	}
}

// mustJSON marshals values built in this package, which always marshal.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("gen: marshal %T: %v", v, err))
	}
	return b
}

func mustJSONIndent(v any) []byte {
	b, err := json.MarshalIndent(v, "", "   ")
	if err != nil {
		panic(fmt.Sprintf("gen: marshal %T: %v", v, err))
	}
	return b
}
