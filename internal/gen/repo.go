package gen

import (
	"maps"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
)

// repoState is one repository directory as the registry would have left it
// after its history of pushes and deletes: what Generate writes for it.
//
// It follows the registry's own bookkeeping (registry/storage in
// distribution v3): a blob upload writes the blob once and the layer link
// on the first upload to this repository (clients HEAD before uploading);
// every manifest PUT rewrites the revision link, so its mtime is the last
// push; tagging rewrites the tag's index entry and current/link; deleting a
// tag removes its whole directory; deleting a manifest removes its revision
// link (the emptied directory stays, as on the filesystem driver) and every
// tag whose current/link names it.
type repoState struct {
	name    string
	listed  bool                        // has _manifests: a repository to the registry
	own     map[digest.Digest]ownBlob   // blobs first uploaded here: written with this repository
	shared  map[digest.Digest]time.Time // upstream blobs used here, with their first use
	layers  map[digest.Digest]time.Time
	revs    map[digest.Digest]*revision
	tags    map[string]*tagState
	uploads []upload
}

type ownBlob struct {
	data []byte
	at   time.Time
}

type revision struct {
	m       *manifest
	at      time.Time
	deleted bool
}

type tagState struct {
	current digest.Digest
	at      time.Time
	history map[digest.Digest]time.Time
}

// upload is an unfinished blob upload: _uploads/<uuid>.
type upload struct {
	uuid    string
	started time.Time
	data    []byte
}

func newRepoState(name string, listed bool) *repoState {
	return &repoState{
		name:   name,
		listed: listed,
		own:    map[digest.Digest]ownBlob{},
		shared: map[digest.Digest]time.Time{},
		layers: map[digest.Digest]time.Time{},
		revs:   map[digest.Digest]*revision{},
		tags:   map[string]*tagState{},
	}
}

// storeBlob puts b in the blob store at t unless it is there already.
func (s *repoState) storeBlob(b *blob, t time.Time) {
	if b.shared {
		if first, ok := s.shared[b.digest]; !ok || t.Before(first) {
			s.shared[b.digest] = t
		}
		return
	}
	if _, ok := s.own[b.digest]; !ok {
		s.own[b.digest] = ownBlob{data: b.data, at: t}
	}
}

// uploadBlob uploads b to the repository at t, as a client does after a
// HEAD that found it missing here.
func (s *repoState) uploadBlob(b *blob, t time.Time) {
	if _, ok := s.layers[b.digest]; ok {
		return
	}
	s.storeBlob(b, t)
	s.layers[b.digest] = t
}

// pushManifest pushes m the way a client does: config and layers, then the
// children an index needs that the repository lacks (by digest), then m
// itself. Each step takes a second; it returns the time m was put.
func (s *repoState) pushManifest(m *manifest, t time.Time) time.Time {
	if m.config != nil {
		s.uploadBlob(m.config, t)
	}
	for _, l := range m.layers {
		s.uploadBlob(l, t)
	}
	for _, c := range m.children {
		if rev, ok := s.revs[c.digest]; ok && !rev.deleted {
			continue
		}
		t = s.pushManifest(c, t)
	}
	t = t.Add(time.Second)
	s.storeBlob(m.blob, t)
	s.revs[m.digest] = &revision{m: m, at: t}
	return t
}

// tag points tag at m, which must be a revision here, at t. The client
// PUTs the manifest again under the tag, so the revision link is
// rewritten too.
func (s *repoState) tag(tag string, m *manifest, t time.Time) {
	s.revs[m.digest].at = t
	ts, ok := s.tags[tag]
	if !ok {
		ts = &tagState{history: map[digest.Digest]time.Time{}}
		s.tags[tag] = ts
	}
	ts.current, ts.at = m.digest, t
	ts.history[m.digest] = t
}

// deleteTag is DELETE /v2/<name>/manifests/<tag>.
func (s *repoState) deleteTag(tag string) { delete(s.tags, tag) }

// deleteManifest is DELETE /v2/<name>/manifests/<digest>.
func (s *repoState) deleteManifest(d digest.Digest) {
	s.revs[d].deleted = true
	for name, ts := range s.tags {
		if ts.current == d {
			delete(s.tags, name)
		}
	}
}

// tagNames returns the tags, sorted: choices among them must not depend on
// map order.
func (s *repoState) tagNames() []string {
	return slices.Sorted(maps.Keys(s.tags))
}

// summary is what the registry serves from this repository.
func (s *repoState) summary() Repository {
	r := Repository{Name: s.name, Tags: make(map[string]digest.Digest, len(s.tags))}
	for name, ts := range s.tags {
		r.Tags[name] = ts.current
	}
	for d, rev := range s.revs {
		if !rev.deleted {
			r.Revisions = append(r.Revisions, d)
		}
	}
	slices.Sort(r.Revisions)
	return r
}
