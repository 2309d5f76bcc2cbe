package index

import (
	"slices"
	"strings"
)

// gcMark is what one replay of the registry's mark found.
type gcMark struct {
	marked  []bool  // per digest id: the mark set
	visited []bool  // per digest id: the bodies whose references it marked
	queued  []int32 // revisions --delete-untagged queues for deletion, by index
}

// mark replays the mark phase of distribution's MarkAndSweep
// (registry/storage/garbagecollect.go, v3) on the graph, with or without
// --delete-untagged, as docs/gc.md describes it and with its defects:
//
//   - Repositories are visited in catalog order (catalog), listed ones only.
//   - A repository's revisions are enumerated in the order of their link
//     paths; what each link holds is ingested if the revision link at that
//     digest exists and names a blob that exists (linkedBlobStore.Stat).
//     An alias (a link holding another digest than its path's) is thereby
//     skipped unless that other digest has a live revision of its own.
//   - With --delete-untagged, a digest no tag's current link names is
//     queued for deletion instead, unless the repository has no tags/
//     directory (here: neither tags nor tag history), where it is skipped.
//   - An ingested digest is marked and its body's references are marked in
//     order (config, then layers or children), descending into one that is
//     a live revision of the same repository, but only when it was not
//     marked before: a digest met before is not descended into again,
//     whatever it was met as.
//
// Where the registry aborts (a link or manifest it cannot parse), the
// replay goes on with what the index holds; gc-hazards reports the abort.
func (g *graph) mark(driver string, untagged bool) gcMark {
	n := g.d.len()
	m := gcMark{marked: make([]bool, n), visited: make([]bool, n)}
	for _, ri := range g.catalog(driver) {
		r := &g.repos[ri]
		for _, li := range r.revs {
			c := g.revs[li].target
			vi, ok := g.rev(ri, c)
			if !ok || !g.isBlob(g.revs[vi].target) {
				continue
			}
			if untagged && !g.tagged[revKey{ri, c}] {
				if r.hasTags {
					m.queued = append(m.queued, vi)
				}
				continue
			}
			m.marked[c] = true
			g.markReferences(vi, &m)
		}
	}
	return m
}

// markReferences is markManifestReferences: it marks the references of
// revision vi's body and descends into those that are live revisions of
// its repository and were not marked before.
func (g *graph) markReferences(vi int32, m *gcMark) {
	v := &g.revs[vi]
	m.visited[v.target] = true
	for _, r := range g.refsOf(v.target) {
		if m.marked[r.digest] {
			continue
		}
		m.marked[r.digest] = true
		if ci, ok := g.rev(v.repo, r.digest); ok && g.isBlob(g.revs[ci].target) {
			g.markReferences(ci, m)
		}
	}
}

// catalog returns the listed repositories in the order the registry's
// catalog enumerates them: a sorted depth-first walk of repositories/
// ("a/b" before "a-b"), except on S3, whose walk is one listing sorted by
// key ("a-b/" before "a/b/").
func (g *graph) catalog(driver string) []int32 {
	key := func(name string) string { return strings.ReplaceAll(name, "/", "\x01") }
	if driver == "s3" || driver == "s3-aws" {
		key = func(name string) string { return name + "/" }
	}
	var order []int32
	keys := map[int32]string{}
	for i, r := range g.repos {
		if r.listed {
			order = append(order, int32(i))
			keys[int32(i)] = key(r.name)
		}
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(keys[a], keys[b]) })
	return order
}

// blobWhat says what a blob is to the registry: a manifest, an image
// config, a layer, or a blob nothing references.
func (g *graph) blobWhat(d int32) string {
	switch k := g.refKinds[d]; {
	case g.isManifest(d):
		return "manifest"
	case k&refConfig != 0:
		return "config"
	case k&refLayer != 0:
		return "layer"
	case k&refChild != 0:
		return "manifest"
	}
	return "blob"
}
