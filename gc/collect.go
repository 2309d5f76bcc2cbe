package gc

import (
	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/walker"
)

// collector is the walker.Sink that keeps what planning needs: every blob,
// each repository's links and uploads, and the references of each manifest.
// The walker calls it from one goroutine.
type collector struct {
	blobs     []walker.Blob
	repos     map[string]*repository
	manifests map[digest.Digest]*manifest
	problems  []walker.Problem
}

// repository is what a walk found in one directory under repositories/.
type repository struct {
	walker.Repository
	revisions []walker.Revision
	tags      []walker.Tag
	history   []walker.TagHistory
	layers    []walker.LayerLink
	uploads   []walker.Upload
}

// manifest is the part of a parsed manifest the mark needs.
type manifest struct {
	kind walker.ManifestKind
	// refs are the config, layers and index children: what the
	// registry's garbage collector follows. subject is not among them.
	refs    []digest.Digest
	subject digest.Digest
}

func newCollector() *collector {
	return &collector{repos: map[string]*repository{}, manifests: map[digest.Digest]*manifest{}}
}

// repo returns the repository name; the walker emits a Repository before
// anything that names it, but a stray order must not lose a record.
func (c *collector) repo(name string) *repository {
	r, ok := c.repos[name]
	if !ok {
		r = &repository{Repository: walker.Repository{Name: name}}
		c.repos[name] = r
	}
	return r
}

func (c *collector) Repository(r walker.Repository) error {
	c.repo(r.Name).Repository = r
	return nil
}

func (c *collector) Tag(t walker.Tag) error {
	r := c.repo(t.Repo)
	r.tags = append(r.tags, t)
	return nil
}

func (c *collector) TagHistory(h walker.TagHistory) error {
	r := c.repo(h.Repo)
	r.history = append(r.history, h)
	return nil
}

func (c *collector) Revision(v walker.Revision) error {
	r := c.repo(v.Repo)
	r.revisions = append(r.revisions, v)
	return nil
}

func (c *collector) LayerLink(l walker.LayerLink) error {
	r := c.repo(l.Repo)
	r.layers = append(r.layers, l)
	return nil
}

func (c *collector) Upload(u walker.Upload) error {
	r := c.repo(u.Repo)
	r.uploads = append(r.uploads, u)
	return nil
}

func (c *collector) Blob(b walker.Blob) error {
	c.blobs = append(c.blobs, b)
	return nil
}

func (c *collector) Manifest(m walker.Manifest) error {
	mf := &manifest{kind: m.Kind, subject: m.Subject}
	for _, r := range m.References {
		if r.Kind != walker.RefSubject {
			mf.refs = append(mf.refs, r.Digest)
		}
	}
	c.manifests[m.Digest] = mf
	return nil
}

func (c *collector) Problem(p walker.Problem) error {
	c.problems = append(c.problems, p)
	return nil
}
