package walker

import (
	"time"

	"github.com/opencontainers/go-digest"
)

// Repository is a directory under repositories/. Listed is true when it
// directly contains _manifests: only those are repositories to the registry's
// catalog and garbage collector. A directory with only _layers or _uploads is
// reported too (Listed false) so that its links are not lost from view.
type Repository struct {
	Name       string
	Listed     bool
	HasLayers  bool
	HasUploads bool
}

// Tag is a tag's current/link: the manifest the tag names now. PushedAt is
// the link file's modification time, which is when the tag was last pushed.
type Tag struct {
	Repo     string
	Name     string
	Digest   digest.Digest
	PushedAt time.Time
}

// TagHistory is one entry of a tag's index/: a manifest the tag has named at
// some time. LinkedAt is the link file's modification time.
type TagHistory struct {
	Repo     string
	Tag      string
	Digest   digest.Digest
	LinkedAt time.Time
}

// Revision is a manifest revision link: _manifests/revisions/<alg>/<hex>/link.
// Digest comes from the path (it is what the registry enumerates); Target is
// the link's content, the blob it names, which differs only for an alias.
// LinkedAt is the link file's modification time: when the manifest was last
// pushed to this repository (every manifest PUT rewrites the link).
type Revision struct {
	Repo     string
	Digest   digest.Digest
	Target   digest.Digest
	LinkedAt time.Time
}

// LayerLink is a repository's _layers/<alg>/<hex>/link. Digest is the link's
// content, as the registry reads it.
type LayerLink struct {
	Repo     string
	Digest   digest.Digest
	LinkedAt time.Time
}

// Upload is an upload in progress (or abandoned) under _uploads/<uuid>.
// StartedAt is zero when startedat is missing or unreadable.
type Upload struct {
	Repo      string
	UUID      string
	StartedAt time.Time
	Size      int64
}

// Blob is a file blobs/<alg>/<xx>/<hex>/data. The digest comes from the path.
type Blob struct {
	Digest     digest.Digest
	Size       int64
	ModifiedAt time.Time
}

// Manifest is the parsed body of a manifest that some revision link names.
// It is emitted once per digest however many repositories link it.
type Manifest struct {
	Digest        digest.Digest
	MediaType     string // from the body, or inferred as the registry does
	ArtifactType  string
	SchemaVersion int
	Kind          ManifestKind
	Size          int64  // bytes of the body
	Body          []byte // raw body when it is valid JSON, else nil
	Config        digest.Digest
	Subject       digest.Digest
	References    []Reference
	Image         *ImageConfig // from the config blob of an image manifest; nil if none was read
}

// ManifestKind says how the registry reads a manifest body.
type ManifestKind string

// The kinds of manifest bodies.
const (
	KindImage   ManifestKind = "image"   // Docker schema2 or OCI image manifest
	KindIndex   ManifestKind = "index"   // Docker manifest list or OCI image index
	KindSchema1 ManifestKind = "schema1" // schemaVersion 1: unreadable by registry v3
	KindUnknown ManifestKind = "unknown" // a mediaType the registry does not serve
	KindInvalid ManifestKind = "invalid" // not a JSON manifest at all
)

// Reference is an edge from a manifest to a descriptor in its body.
type Reference struct {
	Kind         ReferenceKind
	Position     int // index in layers[] or manifests[]; 0 for config and subject
	Digest       digest.Digest
	MediaType    string
	Size         int64
	ArtifactType string
	Platform     *Platform // for index children that declare one
}

// ReferenceKind names the place in a manifest body a descriptor came from.
type ReferenceKind string

// The kinds of references.
const (
	RefConfig  ReferenceKind = "config"
	RefLayer   ReferenceKind = "layer"
	RefChild   ReferenceKind = "child" // manifests[] of an index
	RefSubject ReferenceKind = "subject"
)

// Platform is the platform of an index child.
type Platform struct {
	OS           string
	Architecture string
	Variant      string
}

// ImageConfig holds the fields of an image config blob that people query.
type ImageConfig struct {
	Created      time.Time // zero when absent or unparseable
	OS           string
	Architecture string
	Variant      string
	Labels       map[string]string
}

// Problem is an anomaly met during the walk. The walk records it and goes on.
type Problem struct {
	Kind    ProblemKind
	Path    string // relative to docker/registry/v2
	Repo    string // "" when not in a repository
	Digest  digest.Digest
	Message string
}
