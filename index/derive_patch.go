package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// errStaleSnapshot is why patch gave up: the snapshot and the tables
// disagree on rows the update did not change.
var errStaleSnapshot = errors.New("the graph snapshot disagrees with the index")

// patch brings a graph read from the snapshot of the index as an
// incremental build found it up to the tables that build wrote, reading
// only the rows it changed, which its scratch tables name: the
// repositories it read again (rescan_read; every other repository's rows
// are as they were, and a repository gone is gone from repos), the blobs
// that came or went (rescan_blobs), and the manifests it forgot
// (rescan_drop, rescan_new) and read again (rescan_new). The result is
// the graph loadGraph would read from the tables.
func (g *graph) patch(ctx context.Context, tx *sql.Tx) error {
	read := map[int64]bool{}
	err := queryEach(ctx, tx, "read repositories read again", `SELECT id FROM temp.rescan_read`, func(rows *sql.Rows) error {
		var id int64
		err := rows.Scan(&id)
		read[id] = true
		return err
	})
	if err != nil {
		return err
	}

	old, oldRevs, oldTags, oldIdx := g.repos, g.revs, g.tags, g.repoIdx
	g.repos, g.repoIdx = make([]repo, 0, len(old)), make(map[int64]int32, len(old))
	g.revs, g.tags = make([]revision, 0, len(oldRevs)), make([]tagRow, 0, len(oldTags))
	err = queryEach(ctx, tx, "read repositories", `SELECT id, name, listed FROM repos ORDER BY id`, func(rows *sql.Rows) error {
		var r repo
		if err := rows.Scan(&r.id, &r.name, &r.listed); err != nil {
			return err
		}
		ri := int32(len(g.repos))
		g.repoIdx[r.id] = ri
		if !read[r.id] {
			oi, ok := oldIdx[r.id]
			if !ok || old[oi].name != r.name {
				return fmt.Errorf("%w: repository %s", errStaleSnapshot, r.name)
			}
			o := &old[oi]
			r.hasTags = o.hasTags
			for _, vi := range o.revs {
				v := oldRevs[vi]
				v.repo = ri
				r.revs = append(r.revs, int32(len(g.revs)))
				g.revs = append(g.revs, v)
			}
			for _, ti := range o.tagRows {
				t := oldTags[ti]
				t.repo = ri
				r.tagRows = append(r.tagRows, int32(len(g.tags)))
				g.tags = append(g.tags, t)
			}
		}
		g.repos = append(g.repos, r)
		g.patchedRepos = append(g.patchedRepos, read[r.id])
		return nil
	})
	if err != nil {
		return err
	}
	// What the repositories read again or gone used (before the steps
	// below change the manifests).
	for _, o := range old {
		if _, kept := g.repoIdx[o.id]; read[o.id] || !kept {
			for _, vi := range o.revs {
				g.patchedUses = g.usesOf(oldRevs[vi].target, g.patchedUses)
			}
		}
	}
	// Each step may give new digests ids: the arrays indexed by id grow
	// after each.
	for _, step := range []func(context.Context, *sql.Tx) error{g.patchRepos, g.patchBlobs, g.patchManifests} {
		if err := step(ctx, tx); err != nil {
			return err
		}
		g.grow()
	}
	g.link()
	return nil
}

// patchRepos reads the revisions and tags of the repositories read again.
func (g *graph) patchRepos(ctx context.Context, tx *sql.Tx) error {
	repoOf := func(id int64) (*repo, int32, error) {
		ri, ok := g.repoIdx[id]
		if !ok {
			return nil, 0, fmt.Errorf("%w: repository id %d", errStaleSnapshot, id)
		}
		return &g.repos[ri], ri, nil
	}
	var readRepos []int32
	err := queryEach(ctx, tx, "read revisions", `SELECT repo_id, digest, target FROM revisions
		WHERE repo_id IN (SELECT id FROM temp.rescan_read) ORDER BY repo_id, digest`, func(rows *sql.Rows) error {
		var (
			id   int64
			d, t string
		)
		if err := rows.Scan(&id, &d, &t); err != nil {
			return err
		}
		r, ri, err := repoOf(id)
		if err != nil {
			return err
		}
		if len(r.revs) == 0 {
			readRepos = append(readRepos, ri)
		}
		r.revs = append(r.revs, int32(len(g.revs)))
		g.revs = append(g.revs, revision{repo: ri, digest: g.d.id(d), target: g.d.id(t)})
		return nil
	})
	if err != nil {
		return err
	}
	for _, ri := range readRepos {
		slices.SortFunc(g.repos[ri].revs, func(a, b int32) int { return g.d.compare(g.revs[a].digest, g.revs[b].digest) })
	}
	if err := g.readTags(ctx, tx, "repo_id IN (SELECT id FROM temp.rescan_read)", errStaleSnapshot); err != nil {
		return err
	}
	return queryEach(ctx, tx, "read tag history", `SELECT DISTINCT repo_id FROM tag_history
		WHERE repo_id IN (SELECT id FROM temp.rescan_read)`, func(rows *sql.Rows) error {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		r, _, err := repoOf(id)
		if err != nil {
			return err
		}
		r.hasTags = true
		return nil
	})
}

// patchBlobs reads the blobs that came, and forgets those that went.
func (g *graph) patchBlobs(ctx context.Context, tx *sql.Tx) error {
	return queryEach(ctx, tx, "read changed blobs", `SELECT c.digest, b.size, b.modified_at
		FROM temp.rescan_blobs c LEFT JOIN blobs b ON b.digest = c.digest`, func(rows *sql.Rows) error {
		var (
			d           string
			size, mtime sql.NullInt64
		)
		if err := rows.Scan(&d, &size, &mtime); err != nil {
			return err
		}
		id := g.d.id(d)
		g.patchedDigests = append(g.patchedDigests, id)
		g.grow()
		g.blobSize[id], g.blobMTime[id] = -1, noTime
		if size.Valid {
			g.blobSize[id] = size.Int64
			if mtime.Valid {
				g.blobMTime[id] = mtime.Int64
			}
		}
		return nil
	})
}

// patchManifests forgets the manifests the update forgot, reads those it
// read again, and gathers every manifest's references into one span again.
func (g *graph) patchManifests(ctx context.Context, tx *sql.Tx) error {
	err := queryEach(ctx, tx, "read changed manifests",
		`SELECT digest FROM temp.rescan_drop UNION SELECT digest FROM temp.rescan_new`, func(rows *sql.Rows) error {
			var d string
			if err := rows.Scan(&d); err != nil {
				return err
			}
			if id, ok := g.d.lookup(d); ok && g.mIdx[id] >= 0 {
				g.manifests[g.mIdx[id]] = manifest{created: noTime, subject: -1}
				g.patchedDigests = append(g.patchedDigests, id)
			}
			return nil
		})
	if err != nil {
		return err
	}
	entry := func(id int32) *manifest {
		g.grow()
		if g.mIdx[id] < 0 {
			g.mIdx[id] = int32(len(g.manifests))
			g.manifests = append(g.manifests, manifest{created: noTime, subject: -1})
		}
		return &g.manifests[g.mIdx[id]]
	}
	err = queryEach(ctx, tx, "read new manifests", `SELECT digest, created, subject_digest FROM manifests
		WHERE digest IN (SELECT digest FROM temp.rescan_new)`, func(rows *sql.Rows) error {
		var (
			d       string
			created sql.NullInt64
			subject sql.NullString
		)
		if err := rows.Scan(&d, &created, &subject); err != nil {
			return err
		}
		id, s := g.d.id(d), int32(-1)
		g.patchedDigests = append(g.patchedDigests, id)
		if subject.Valid {
			s = g.d.id(subject.String)
		}
		m := entry(id)
		m.row, m.subject = true, s
		if created.Valid {
			m.created = created.Int64
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The references of the manifests read again go after all others;
	// then every manifest's are copied into a new array, in order, which
	// leaves out those of the manifests forgotten.
	var spans refSpans
	err = queryEach(ctx, tx, "read references of new manifests", `SELECT manifest_digest, kind, position, digest FROM refs
		WHERE manifest_digest IN (SELECT digest FROM temp.rescan_new) AND kind IN ('config', 'layer', 'child')
		ORDER BY manifest_digest`, func(rows *sql.Rows) error {
		var (
			m, kind, d string
			pos        int32
		)
		if err := rows.Scan(&m, &kind, &pos, &d); err != nil {
			return err
		}
		spans.add(g, m, kind, d, pos)
		return nil
	})
	if err != nil {
		return err
	}
	for _, sp := range spans.spans {
		m := entry(sp.manifest)
		m.refStart, m.refEnd = sp.start, sp.end
		slices.SortFunc(g.refs[sp.start:sp.end], compareRefs)
	}
	refs := make([]ref, 0, len(g.refs))
	for i := range g.manifests {
		m := &g.manifests[i]
		start := int32(len(refs))
		refs = append(refs, g.refs[m.refStart:m.refEnd]...)
		m.refStart, m.refEnd = start, int32(len(refs))
	}
	g.refs = refs
	return nil
}

// rebuild makes the maps id and lookup use, which the snapshot does not
// hold.
func (d *digests) rebuild() {
	d.byPrefix = make(map[uint64]int32, len(d.keys))
	d.byKey, d.byText = map[[32]byte]int32{}, map[string]int32{}
	for id := range int32(len(d.keys)) {
		if d.isText[id] {
			d.byText[d.texts[id]] = id
			continue
		}
		k := &d.keys[id]
		if _, ok := d.byPrefix[prefix(k)]; !ok {
			d.byPrefix[prefix(k)] = id
		} else {
			d.byKey[*k] = id
		}
	}
}
