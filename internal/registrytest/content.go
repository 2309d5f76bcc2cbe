package registrytest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The Docker media types; the OCI ones come from image-spec's v1 package.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// DefaultCreated is the config "created" time of an image whose options
// leave Created zero. It is fixed so that the same options always give the
// same digests.
var DefaultCreated = time.Date(2024, 1, 15, 12, 0, 0, 0, time.UTC)

// DefaultLayerSize is the number of content bytes in a generated layer.
const DefaultLayerSize = 1024

// Manifest is a manifest body ready to push, together with everything it
// references that a push must upload first: the config and layer blobs of an
// image, the child manifests of an index. Build one with Image, Index,
// ManifestList or Artifact; fields may be changed before pushing, but then
// Body is what counts.
type Manifest struct {
	MediaType    string
	Body         []byte
	Config       []byte      // an image's config blob; nil for an index
	Layers       [][]byte    // an image's layer blobs, in manifest order
	Children     []*Manifest // an index's children, in manifest order
	Platform     *v1.Platform
	ArtifactType string
}

// Digest is the manifest's digest: the sha256 of its body.
func (m *Manifest) Digest() digest.Digest { return digest.FromBytes(m.Body) }

// Descriptor describes the manifest as an index entry: with its platform
// when it has one.
func (m *Manifest) Descriptor() v1.Descriptor {
	return v1.Descriptor{
		MediaType:    m.MediaType,
		Digest:       m.Digest(),
		Size:         int64(len(m.Body)),
		Platform:     m.Platform,
		ArtifactType: m.ArtifactType,
	}
}

// ImageOptions says what Image builds. The zero value is a one-layer
// linux/amd64 Docker schema2 image created at DefaultCreated.
type ImageOptions struct {
	// Seed picks the bytes of the generated layers: equal options give equal
	// digests, different seeds give different layers.
	Seed int64
	// Layers is the number of layers generated from Seed, after Base. When
	// both Layers and Base are empty, one layer is generated.
	Layers int
	// LayerSize is the number of content bytes per generated layer
	// (DefaultLayerSize when 0).
	LayerSize int
	// Base are layers put first, e.g. one Layer shared by several images so
	// that they share a blob as real images share a base.
	Base [][]byte
	// OCI builds an OCI image manifest and config instead of Docker schema2.
	OCI bool
	// Created is the config's created time (DefaultCreated when zero).
	Created time.Time
	// OS, Architecture and Variant default to linux and amd64.
	OS, Architecture, Variant string
	// Labels go to the config's config.Labels.
	Labels map[string]string
}

// Image builds an image manifest, its config and its layers from opts.
func Image(opts ImageOptions) *Manifest {
	platform := &v1.Platform{OS: opts.OS, Architecture: opts.Architecture, Variant: opts.Variant}
	if platform.OS == "" {
		platform.OS = "linux"
	}
	if platform.Architecture == "" {
		platform.Architecture = "amd64"
	}
	created := opts.Created
	if created.IsZero() {
		created = DefaultCreated
	}
	size := opts.LayerSize
	if size <= 0 {
		size = DefaultLayerSize
	}
	n := opts.Layers
	if n == 0 && len(opts.Base) == 0 {
		n = 1
	}
	layers := append([][]byte(nil), opts.Base...)
	for i := range n {
		// Each generated layer gets its own stream: seeds 1 and 2 must not
		// share a layer just because one has more layers than the other.
		layers = append(layers, Layer(opts.Seed*1000+int64(i), size))
	}

	cfg := v1.Image{
		Created:  &created,
		Platform: v1.Platform{OS: platform.OS, Architecture: platform.Architecture, Variant: platform.Variant},
		Config:   v1.ImageConfig{Labels: opts.Labels, Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin"}},
		RootFS:   v1.RootFS{Type: "layers"},
	}
	for i, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID(l))
		cfg.History = append(cfg.History, v1.History{
			Created:   &created,
			CreatedBy: fmt.Sprintf("/bin/sh -c #(nop) ADD file:layer%d in /", i),
		})
	}
	config := mustJSON(cfg)

	mediaType, configType, layerType := MediaTypeDockerManifest, MediaTypeDockerConfig, MediaTypeDockerLayer
	if opts.OCI {
		mediaType, configType, layerType = v1.MediaTypeImageManifest, v1.MediaTypeImageConfig, v1.MediaTypeImageLayerGzip
	}
	m := v1.Manifest{
		MediaType: mediaType,
		Config:    blobDescriptor(configType, config),
	}
	m.SchemaVersion = 2
	for _, l := range layers {
		m.Layers = append(m.Layers, blobDescriptor(layerType, l))
	}
	return &Manifest{
		MediaType: mediaType,
		Body:      mustJSON(m),
		Config:    config,
		Layers:    layers,
		Platform:  platform,
	}
}

// Index builds an OCI image index of children, each entry with the child's
// platform.
func Index(children ...*Manifest) *Manifest {
	return buildIndex(v1.MediaTypeImageIndex, children)
}

// ManifestList builds a Docker manifest list of children, each entry with
// the child's platform.
func ManifestList(children ...*Manifest) *Manifest {
	return buildIndex(MediaTypeDockerManifestList, children)
}

func buildIndex(mediaType string, children []*Manifest) *Manifest {
	idx := v1.Index{MediaType: mediaType, Manifests: []v1.Descriptor{}}
	idx.SchemaVersion = 2
	for _, c := range children {
		idx.Manifests = append(idx.Manifests, c.Descriptor())
	}
	return &Manifest{
		MediaType: mediaType,
		Body:      mustJSON(idx),
		Children:  children,
	}
}

// Artifact builds an OCI artifact manifest (a signature, an SBOM, an
// attestation) whose subject is subject: artifactType set, the empty config
// application/vnd.oci.empty.v1+json, and one layer of artifactType whose
// content is derived from the subject's digest.
func Artifact(subject *Manifest, artifactType string) *Manifest {
	sub := subject.Descriptor()
	sub.Platform = nil
	sub.ArtifactType = ""
	payload := mustJSON(map[string]string{"artifactType": artifactType, "subject": sub.Digest.String()})
	empty := v1.DescriptorEmptyJSON
	m := v1.Manifest{
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       empty,
		Layers:       []v1.Descriptor{blobDescriptor(artifactType, payload)},
		Subject:      &sub,
	}
	m.SchemaVersion = 2
	return &Manifest{
		MediaType:    v1.MediaTypeImageManifest,
		Body:         mustJSON(m),
		Config:       append([]byte(nil), empty.Data...),
		Layers:       [][]byte{payload},
		ArtifactType: artifactType,
	}
}

// Layer returns a gzipped tar holding one file of size pseudo-random bytes
// drawn from seed. Equal arguments give equal bytes on every run: the tar
// headers are fixed and gzip stores the content uncompressed (random bytes
// would not compress anyway), so the digest does not depend on the
// compressor's version.
func Layer(seed int64, size int) []byte {
	content := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	for i := range content {
		content[i] = byte(rng.Uint32())
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     fmt.Sprintf("data/layer-%d.bin", seed),
		Mode:     0o644,
		Size:     int64(size),
		ModTime:  DefaultCreated,
		Format:   tar.FormatUSTAR,
	}
	// Writes to a bytes.Buffer cannot fail; the header is valid USTAR.
	_ = tw.WriteHeader(hdr)
	_, _ = tw.Write(content)
	_ = tw.Close()

	var gb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gb, gzip.NoCompression)
	_, _ = zw.Write(tb.Bytes())
	_ = zw.Close()
	return gb.Bytes()
}

// diffID is the digest of a layer's uncompressed content, as an image config
// lists it; for a layer that is not gzip it is the layer's own digest.
func diffID(layer []byte) digest.Digest {
	zr, err := gzip.NewReader(bytes.NewReader(layer))
	if err != nil {
		return digest.FromBytes(layer)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return digest.FromBytes(layer)
	}
	return digest.FromBytes(raw)
}

func blobDescriptor(mediaType string, data []byte) v1.Descriptor {
	return v1.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

// mustJSON marshals values built in this package, which always marshal.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("registrytest: marshal %T: %v", v, err))
	}
	return b
}
