package gen

import (
	"fmt"
	"runtime"
	"time"

	"github.com/opencontainers/go-digest"
)

// Version changes whenever the same Params would give a different tree: a
// cache of generated trees keys on it together with the Params.
const Version = 1

// DefaultEnd is the end of the generated history when Params.End is zero:
// a fixed instant, so that a tree never depends on the clock of the machine
// that generated it.
var DefaultEnd = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultSpan is how far back the history goes when Params.Start is zero.
const DefaultSpan = 2 * 365 * 24 * time.Hour

// Params says what Generate writes. Equal Params (ignoring Workers and the
// callbacks) give byte-identical trees.
type Params struct {
	// Seed picks every name, tag, byte and time.
	Seed int64
	// Repos is the number of repositories the registry lists. A few more
	// directories without _manifests (abandoned first pushes) come on top.
	Repos int
	// Start and End bound the history: pushes, config created times and
	// upload starts lie between them (base images may predate Start; the
	// last pushes of a repository may run a few minutes into the final
	// hour). Zero values mean DefaultEnd and End-DefaultSpan.
	Start, End time.Time
	// Workers is the number of repositories generated and written at once;
	// 0 means twice GOMAXPROCS, which keeps the disk busy while another
	// worker hashes and marshals.
	Workers int
	// Progress, when set, is called after each repository with the number
	// done and the total; calls never overlap.
	Progress func(done, total int)
	// OnRepository, when set, is told what each listed repository holds, as
	// the registry will serve it; calls never overlap and come in no
	// particular order.
	OnRepository func(Repository)
}

// Repository is what a generated repository holds, as the registry serves
// it: the ground truth a test or a benchmark compares against.
type Repository struct {
	Name string
	// Tags maps each tag to the manifest its current/link names.
	Tags map[string]digest.Digest
	// Revisions are the manifests with a revision link, sorted.
	Revisions []digest.Digest
}

// Preset returns the Params of a named tree size: "small" (about a thousand
// manifests), "medium" (about twenty thousand) or "large" (about a hundred
// thousand manifests in 8,700 repositories). The seed is 1.
func Preset(name string) (Params, bool) {
	repos, ok := presets[name]
	if !ok {
		return Params{}, false
	}
	return Params{Seed: 1, Repos: repos}, true
}

// PresetNames lists the names Preset knows, smallest first.
func PresetNames() []string { return []string{"small", "medium", "large"} }

var presets = map[string]int{
	"small":  90,
	"medium": 1750,
	"large":  8700,
}

// withDefaults fills the zero fields and checks the rest.
func (p Params) withDefaults() (Params, error) {
	if p.Repos <= 0 {
		return p, fmt.Errorf("%w: repos must be positive, got %d", ErrBadParams, p.Repos)
	}
	if p.End.IsZero() {
		p.End = DefaultEnd
	}
	if p.Start.IsZero() {
		p.Start = p.End.Add(-DefaultSpan)
	}
	p.Start, p.End = p.Start.UTC().Truncate(time.Second), p.End.UTC().Truncate(time.Second)
	if p.End.Sub(p.Start) < 60*24*time.Hour {
		return p, fmt.Errorf("%w: history from %s to %s is shorter than 60 days", ErrBadParams, p.Start, p.End)
	}
	if p.Workers <= 0 {
		p.Workers = 2 * runtime.GOMAXPROCS(0)
	}
	return p, nil
}

// Stats counts what Generate wrote. It depends only on the Params that
// shape the tree, never on timing, so two runs give equal Stats.
type Stats struct {
	Repositories int // directories with _manifests: what the catalog lists
	Abandoned    int // repository directories with only _layers or _uploads
	Tags         int // tag directories
	MovedTags    int // tags whose index/ names more than one manifest
	Manifests    int // distinct manifests with at least one revision link
	Indexes      int // of those, OCI indexes and Docker manifest lists
	Artifacts    int // of those, OCI artifacts with a subject
	Revisions    int // revision links; a manifest in two repositories counts twice
	Untagged     int // revisions no tag's current/link names (index children included)
	Blobs        int // blob data files, manifests included
	OrphanBlobs  int // blobs no link file names
	LayerLinks   int // _layers links
	TagLinks     int // current/link files
	IndexLinks   int // tag index/ links
	Uploads      int // _uploads/<uuid> directories
	LinkFiles    int // every link file: revisions, tags, tag index, layers
	Files        int // every file written
	Dirs         int // every directory created
	Bytes        int64
}

func (s *Stats) add(o Stats) {
	s.Repositories += o.Repositories
	s.Abandoned += o.Abandoned
	s.Tags += o.Tags
	s.MovedTags += o.MovedTags
	s.Manifests += o.Manifests
	s.Indexes += o.Indexes
	s.Artifacts += o.Artifacts
	s.Revisions += o.Revisions
	s.Untagged += o.Untagged
	s.Blobs += o.Blobs
	s.OrphanBlobs += o.OrphanBlobs
	s.LayerLinks += o.LayerLinks
	s.TagLinks += o.TagLinks
	s.IndexLinks += o.IndexLinks
	s.Uploads += o.Uploads
	s.LinkFiles += o.LinkFiles
	s.Files += o.Files
	s.Dirs += o.Dirs
	s.Bytes += o.Bytes
}
