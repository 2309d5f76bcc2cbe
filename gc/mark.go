package gc

import "github.com/opencontainers/go-digest"

// Reason says why something the plain mark would let go is kept.
type Reason string

// The reasons a plan keeps what an unreferenced-is-garbage collector would
// delete. Each is a place where regsql is deliberately safer than the
// registry's own garbage collector.
const (
	// ReasonGrace: the blob's data was written within the grace period,
	// maybe by a push still in flight.
	ReasonGrace Reason = "grace"
	// ReasonRecentLink: a repository linked the blob within the grace
	// period (a cross-repository mount, or a push of a blob that was
	// already stored), so a manifest naming it may be on its way.
	ReasonRecentLink Reason = "recent-link"
	// ReasonRecentRevision: with DeleteUntagged, an untagged manifest
	// pushed within the grace period, maybe the child of an index whose
	// push is in flight. It and what it references stay.
	ReasonRecentRevision Reason = "recent-revision"
	// ReasonReferrer: with DeleteUntagged and KeepReferrers, a manifest
	// whose subject is kept (a signature, an SBOM, an attestation), and
	// what it references.
	ReasonReferrer Reason = "referrer"
	// ReasonLayersOnly: a blob that a directory with _layers but no
	// _manifests links, as a first push into a new repository leaves
	// while in flight. The registry's catalog and garbage collector do
	// not see such a directory and delete the blob, leaving the link
	// dangling.
	ReasonLayersOnly Reason = "layers-only-repo"
	// ReasonHeld: something in the repository could not be judged (an
	// unreadable file, a bad link, a manifest the registry cannot read),
	// so every revision and every blob it links stays.
	ReasonHeld Reason = "held-repo"
	// ReasonNoTagsDir: with DeleteUntagged, a repository that has
	// revisions but no tags/ directory. The registry means to skip it
	// (it does not delete those revisions) but deletes their blobs; here
	// the revisions and their blobs stay.
	ReasonNoTagsDir Reason = "no-tags-dir"
	// ReasonMarkIncomplete: part of repositories/ could not be read, so
	// the mark may have missed references and no blob is swept.
	ReasonMarkIncomplete Reason = "mark-incomplete"
)

// referenced is the reason of a plain mark: something a root reaches, as
// the registry's garbage collector marks it.
const referenced Reason = ""

// marker is the mark phase: a global set of digests, each with the reason
// it was first marked. Unlike the registry's mark, it descends into every
// manifest it marks, whichever repository it meets it in and whether or
// not it was marked before, so the result does not depend on the order of
// repositories.
type marker struct {
	manifests map[digest.Digest]*manifest
	// aliases maps a non-sha256 reference to the sha256 blobs that layer
	// links by that digest name: the blob the registry serves for it.
	aliases map[digest.Digest][]digest.Digest
	// referrers maps a subject to the manifests that name it; nil unless
	// referrers are kept.
	referrers map[digest.Digest][]digest.Digest
	marked    map[digest.Digest]Reason
	queue     []digest.Digest
	// subjects are marked manifests whose referrers are still to keep:
	// they are kept once everything else reachable is marked, so that
	// what a kept image itself reaches is never put down to a referrer.
	subjects []digest.Digest
}

func newMarker(manifests map[digest.Digest]*manifest) *marker {
	return &marker{
		manifests: manifests,
		aliases:   map[digest.Digest][]digest.Digest{},
		marked:    map[digest.Digest]Reason{},
	}
}

// keepReferrers makes every manifest whose subject gets marked marked too.
func (m *marker) keepReferrers() {
	m.referrers = map[digest.Digest][]digest.Digest{}
	for d, mf := range m.manifests {
		if mf.subject != "" {
			m.referrers[mf.subject] = append(m.referrers[mf.subject], d)
		}
	}
}

// mark marks d for why unless it is marked already; drain follows it.
func (m *marker) mark(d digest.Digest, why Reason) {
	if d == "" {
		return
	}
	if _, ok := m.marked[d]; ok {
		return
	}
	m.marked[d] = why
	m.queue = append(m.queue, d)
}

// drain follows everything marked since the last drain: a manifest's
// references get its reason; once nothing else is left, the referrers of
// the manifests marked are kept as referrers, and followed in turn.
func (m *marker) drain() {
	for len(m.queue) > 0 || len(m.subjects) > 0 {
		if len(m.queue) == 0 {
			for _, s := range m.subjects {
				for _, r := range m.referrers[s] {
					m.mark(r, ReasonReferrer)
				}
			}
			m.subjects = m.subjects[:0]
			continue
		}
		d := m.queue[len(m.queue)-1]
		m.queue = m.queue[:len(m.queue)-1]
		why := m.marked[d]
		if mf := m.manifests[d]; mf != nil {
			for _, r := range mf.refs {
				m.mark(r, why)
			}
		}
		for _, a := range m.aliases[d] {
			m.mark(a, why)
		}
		if len(m.referrers[d]) > 0 {
			m.subjects = append(m.subjects, d)
		}
	}
}

// isMarked reports whether d is marked, and why.
func (m *marker) isMarked(d digest.Digest) (Reason, bool) {
	why, ok := m.marked[d]
	return why, ok
}
