package walker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/distribution/distribution/v3/manifest/manifestlist"
	"github.com/distribution/distribution/v3/manifest/ocischema"
	"github.com/distribution/distribution/v3/manifest/schema2"
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types the registry does not export as constants.
const (
	mediaTypeSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// ParseManifest parses a manifest body the way registry v3 reads it
// (manifestStore.Get): the kind comes from schemaVersion and mediaType, and
// an empty mediaType means an OCI index when the body has a manifests array,
// else an OCI image manifest. Acceptance is decided by distribution's own
// manifest types, so a body the registry rejects is KindInvalid here.
//
// The returned problems carry the manifest's digest and blob path but no
// repository: a manifest belongs to every repository that links it.
//
// ArtifactType is the body's artifactType; when that is absent from an image
// manifest whose config is not an image config, it is the config's
// mediaType, as the OCI image spec defines the artifact type (the empty
// descriptor's type application/vnd.oci.empty.v1+json says nothing and is
// not used).
func ParseManifest(dgst digest.Digest, body []byte) (Manifest, []Problem) {
	p := manifestParse{m: Manifest{Digest: dgst, Size: int64(len(body))}}
	p.parse(body)
	return p.m, p.problems
}

type manifestParse struct {
	m        Manifest
	problems []Problem
	extra    *manifestExtras // read with the head, when it could be
}

// manifestHead is what parse reads first of every manifest: the registry's
// first look, and with it, to save a read of the body, what extras reads.
type manifestHead struct {
	manifestVersioned
	manifestExtras
}

// manifestVersioned is the registry's first look at a manifest: exactly
// specs.Versioned plus mediaType; any error fails the read.
type manifestVersioned struct {
	SchemaVersion int    `json:"schemaVersion"`
	MediaType     string `json:"mediaType,omitempty"`
}

// manifestExtras is what extras reads: what the registry stores but
// ignores.
type manifestExtras struct {
	ArtifactType string         `json:"artifactType"`
	Subject      *v1.Descriptor `json:"subject"`
}

func (p *manifestParse) problem(kind ProblemKind, format string, args ...any) {
	p.problems = append(p.problems, Problem{
		Kind:    kind,
		Path:    blobDataPath(p.m.Digest),
		Digest:  p.m.Digest,
		Message: fmt.Sprintf("manifest %s: ", p.m.Digest) + fmt.Sprintf(format, args...),
	})
}

// invalid marks the manifest as one the registry cannot read.
func (p *manifestParse) invalid(body []byte, err error) {
	p.m.Kind = KindInvalid
	p.m.References = nil
	p.m.Config = ""
	if json.Valid(body) {
		p.m.Body = body
	} else {
		p.m.Body = nil
	}
	p.problem(ProblemManifestInvalid, "%v", err)
}

// manifestImage is an image manifest read in one pass: the head and the
// fields of distribution's ocischema.Manifest, of which schema2.Manifest's
// are a subset, each of the same type and name. encoding/json ignores the
// fields a struct lacks, so a body that reads as manifestImage reads as
// either of the registry's types to the same values, and what the
// registry's UnmarshalJSON checks on top is only the mediaType.
type manifestImage struct {
	manifestHead
	Config      v1.Descriptor     `json:"config"`
	Layers      []v1.Descriptor   `json:"layers"`
	Annotations map[string]string `json:"annotations"`
}

func (p *manifestParse) parse(body []byte) {
	// Most manifests are images: read as manifestImage, one of the two
	// image types is done in one pass, where the registry's own types
	// would read the body a second time. Anything else goes on from the
	// head this read gave. The read is go-json-experiment/json's, as
	// encoding/json reads (asEncodingJSON), which the registry uses:
	// twice as fast, and FuzzManifestOnePass holds it to the registry's.
	var img manifestImage
	if jsonv2.Unmarshal(body, &img, asEncodingJSON) != nil {
		p.parseHead(body)
		return
	}
	p.parseVersioned(body, img.manifestVersioned, &img.manifestExtras, &img)
}

// parseHead reads a manifest as the registry does, from its head on.
func (p *manifestParse) parseHead(body []byte) {
	// A body that reads as the head reads as each of its parts, to the
	// same values: encoding/json ignores the fields a struct lacks. One
	// that does not is read again as the registry reads it, and extras
	// reads its part on its own, for a malformed subject must not make the
	// manifest invalid.
	var head manifestHead
	var versioned manifestVersioned // fresh: a failed read may have set some of head
	var extra *manifestExtras
	if err := json.Unmarshal(body, &head); err == nil {
		versioned, extra = head.manifestVersioned, &head.manifestExtras
	} else if err := json.Unmarshal(body, &versioned); err != nil {
		p.invalid(body, fmt.Errorf("not a JSON manifest: %w", err))
		return
	}
	p.parseVersioned(body, versioned, extra, nil)
}

// parseVersioned reads a manifest whose head is read, with distribution's
// own types. extra is what extras reads, when the head read it; img, when
// not nil, is the body read as manifestImage, which stands in for either
// image type's read.
func (p *manifestParse) parseVersioned(body []byte, versioned manifestVersioned, extra *manifestExtras, img *manifestImage) {
	p.extra = extra
	p.m.Body = body
	p.m.SchemaVersion = versioned.SchemaVersion
	p.m.MediaType = versioned.MediaType

	switch versioned.SchemaVersion {
	case 2:
	case 1:
		p.schema1(body)
		return
	default:
		p.m.Kind = KindUnknown
		p.problem(ProblemManifestUnknown, "unrecognized schema version %d", versioned.SchemaVersion)
		p.bestEffortReferences(body)
		return
	}

	switch versioned.MediaType {
	case schema2.MediaTypeManifest, v1.MediaTypeImageManifest:
		config, layers, err := imageOf(body, versioned.MediaType, img)
		if err != nil {
			p.invalid(body, err)
			return
		}
		p.image(config, layers)
	case manifestlist.MediaTypeManifestList:
		var dl manifestlist.DeserializedManifestList
		if err := dl.UnmarshalJSON(body); err != nil {
			p.invalid(body, err)
			return
		}
		p.m.Kind = KindIndex
		for i, md := range dl.Manifests {
			ref := p.reference(RefChild, i, fmt.Sprintf("manifests[%d]", i), md.Descriptor)
			if ref == nil {
				continue
			}
			ref.Platform = nil
			if pl := md.Platform; pl.OS != "" || pl.Architecture != "" || pl.Variant != "" {
				ref.Platform = &Platform{OS: pl.OS, Architecture: pl.Architecture, Variant: pl.Variant}
			}
		}
	case v1.MediaTypeImageIndex:
		var di ocischema.DeserializedImageIndex
		if err := di.UnmarshalJSON(body); err != nil {
			p.invalid(body, err)
			return
		}
		p.index(di.Manifests)
	case "":
		// As the registry: an index if it unmarshals as one with a
		// manifests array, else an OCI image manifest. (When the index
		// unmarshal fails the registry v3.1 dereferences a nil result and
		// panics; no client can read such a body.)
		var di ocischema.DeserializedImageIndex
		if err := di.UnmarshalJSON(body); err != nil {
			p.invalid(body, fmt.Errorf("no mediaType and not readable as an image index: %w", err))
			return
		}
		if di.Manifests != nil {
			p.m.MediaType = v1.MediaTypeImageIndex
			p.index(di.Manifests)
			break
		}
		config, layers, err := imageOf(body, v1.MediaTypeImageManifest, nil)
		if err != nil {
			p.invalid(body, err)
			return
		}
		p.m.MediaType = v1.MediaTypeImageManifest
		p.image(config, layers)
	default:
		p.m.Kind = KindUnknown
		p.problem(ProblemManifestUnknown, "mediaType %q is not one the registry serves", versioned.MediaType)
		p.bestEffortReferences(body)
		return
	}
	p.extras(body)
}

// imageOf reads an image manifest's config and layers: from img, the
// one-pass read, when there is one, else with the registry's own type for
// mediaType (schema2's or the OCI image manifest's). A body without a
// mediaType is read with the registry's type only: the registry reads it
// as an index first.
func imageOf(body []byte, mediaType string, img *manifestImage) (v1.Descriptor, []v1.Descriptor, error) {
	switch {
	case img != nil:
		return img.Config, img.Layers, nil
	case mediaType == schema2.MediaTypeManifest:
		var dm schema2.DeserializedManifest
		err := dm.UnmarshalJSON(body)
		return dm.Config, dm.Layers, err
	default:
		var dm ocischema.DeserializedManifest
		err := dm.UnmarshalJSON(body)
		return dm.Config, dm.Layers, err
	}
}

func (p *manifestParse) image(config v1.Descriptor, layers []v1.Descriptor) {
	p.m.Kind = KindImage
	if ref := p.reference(RefConfig, 0, "config", config); ref != nil {
		p.m.Config = ref.Digest
	}
	for i, l := range layers {
		p.reference(RefLayer, i, fmt.Sprintf("layers[%d]", i), l)
	}
}

func (p *manifestParse) index(children []v1.Descriptor) {
	p.m.Kind = KindIndex
	for i, c := range children {
		p.reference(RefChild, i, fmt.Sprintf("manifests[%d]", i), c)
	}
}

// reference records a descriptor as a reference and returns it (nil when the
// descriptor names no digest at all).
func (p *manifestParse) reference(kind ReferenceKind, pos int, where string, d v1.Descriptor) *Reference {
	if d.Digest == "" {
		p.problem(ProblemManifestInvalid, "%s has no digest", where)
		return nil
	}
	if _, ok := SHA256Key(d.Digest); !ok {
		// The garbage collector marks such a reference by that digest,
		// not by the sha256 the blob is stored under.
		p.problem(ProblemNonSHA256, "%s references %q, not a sha256 digest", where, d.Digest)
	}
	ref := Reference{
		Kind:         kind,
		Position:     pos,
		Digest:       d.Digest,
		MediaType:    d.MediaType,
		Size:         d.Size,
		ArtifactType: d.ArtifactType,
	}
	if d.Platform != nil {
		ref.Platform = &Platform{OS: d.Platform.OS, Architecture: d.Platform.Architecture, Variant: d.Platform.Variant}
	}
	p.m.References = append(p.m.References, ref)
	return &p.m.References[len(p.m.References)-1]
}

// extras reads what the registry stores but ignores: artifactType and
// subject. A malformed one is left out; the registry serves the body anyway.
func (p *manifestParse) extras(body []byte) {
	ex := p.extra
	if ex == nil {
		ex = new(manifestExtras)
		if err := json.Unmarshal(body, ex); err != nil {
			return
		}
	}
	p.m.ArtifactType = ex.ArtifactType
	if ex.Subject != nil {
		if ref := p.reference(RefSubject, 0, "subject", *ex.Subject); ref != nil {
			p.m.Subject = ref.Digest
		}
	}
	if p.m.ArtifactType == "" && p.m.Kind == KindImage {
		if ct := p.configMediaType(); !isImageConfigType(ct) && ct != v1.MediaTypeEmptyJSON && ct != "" {
			p.m.ArtifactType = ct
		}
	}
}

func (p *manifestParse) configMediaType() string {
	for _, r := range p.m.References {
		if r.Kind == RefConfig {
			return r.MediaType
		}
	}
	return ""
}

// schema1 records a schemaVersion 1 manifest: registry v3 cannot read it, but
// its layers are still recorded so that nothing it uses looks unused.
func (p *manifestParse) schema1(body []byte) {
	p.m.Kind = KindSchema1
	p.problem(ProblemManifestSchema1, "schemaVersion 1: registry v3 cannot read it and its garbage collector aborts on it")
	var s1 struct {
		FSLayers []struct {
			BlobSum digest.Digest `json:"blobSum"`
		} `json:"fsLayers"`
		Signatures json.RawMessage `json:"signatures"`
	}
	err := json.Unmarshal(body, &s1)
	if p.m.MediaType == "" {
		p.m.MediaType = mediaTypeSchema1
		if err == nil && len(s1.Signatures) > 0 {
			p.m.MediaType = mediaTypeSchema1Signed
		}
	}
	if err != nil {
		return
	}
	for i, l := range s1.FSLayers {
		p.reference(RefLayer, i, fmt.Sprintf("fsLayers[%d]", i), v1.Descriptor{Digest: l.BlobSum})
	}
}

// bestEffortReferences records the descriptors of a manifest the registry
// does not serve, so that blobs it names are not taken for unused.
func (p *manifestParse) bestEffortReferences(body []byte) {
	var b struct {
		Config    *v1.Descriptor  `json:"config"`
		Layers    []v1.Descriptor `json:"layers"`
		Blobs     []v1.Descriptor `json:"blobs"` // the withdrawn OCI artifact manifest
		Manifests []v1.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return
	}
	if b.Config != nil {
		if ref := p.reference(RefConfig, 0, "config", *b.Config); ref != nil {
			p.m.Config = ref.Digest
		}
	}
	for i, l := range append(b.Layers, b.Blobs...) {
		p.reference(RefLayer, i, fmt.Sprintf("layers[%d]", i), l)
	}
	for i, c := range b.Manifests {
		p.reference(RefChild, i, fmt.Sprintf("manifests[%d]", i), c)
	}
	p.extras(body)
}

// imageConfig is what ParseImageConfig reads of an image config.
type imageConfig struct {
	Created      jsontext.Value `json:"created"`
	OS           string         `json:"os"`
	Architecture string         `json:"architecture"`
	Variant      string         `json:"variant"`
	Config       *struct {
		Labels map[string]string `json:"Labels"`
	} `json:"config"`
}

// asEncodingJSON has go-json-experiment/json (encoding/json/v2 as a
// module until Go 1.27 makes it standard) read as encoding/json does:
// names matched without regard to case, the last of duplicate names
// kept, invalid UTF-8 replaced. It reads an image config in one pass,
// where encoding/json validates the whole body before it decodes: three
// times as fast on the bench trees' configs, which every image has one of.
var asEncodingJSON = jsonv1.DefaultOptionsV1()

// isImageConfigType reports whether a config media type is an image config
// whose blob ParseImageConfig reads.
func isImageConfigType(mediaType string) bool {
	return mediaType == v1.MediaTypeImageConfig || mediaType == schema2.MediaTypeImageConfig
}

// ParseImageConfig parses the fields people query from an image config blob
// (OCI or Docker). Created is zero when absent or not RFC 3339.
func ParseImageConfig(b []byte) (ImageConfig, error) {
	if !isJSONObject(b) {
		return ImageConfig{}, fmt.Errorf("parse image config: not a JSON object: %s", quote(b))
	}
	var c imageConfig
	if err := jsonv2.Unmarshal(b, &c, asEncodingJSON); err != nil {
		return ImageConfig{}, fmt.Errorf("parse image config: %w", err)
	}
	return c.image(), nil
}

// isJSONObject says whether b, spaces aside, starts as a JSON object.
func isJSONObject(b []byte) bool {
	t := bytes.TrimSpace(b)
	return len(t) > 0 && t[0] == '{'
}

// image is the ImageConfig of what was read.
func (c imageConfig) image() ImageConfig {
	ic := ImageConfig{OS: c.OS, Architecture: c.Architecture, Variant: c.Variant}
	if c.Config != nil && len(c.Config.Labels) > 0 {
		ic.Labels = c.Config.Labels
	}
	var created string
	if json.Unmarshal(c.Created, &created) == nil {
		if t, err := time.Parse(time.RFC3339Nano, created); err == nil {
			ic.Created = t.UTC()
		}
	}
	return ic
}
