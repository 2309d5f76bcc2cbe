package deleter

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/index"
)

// repoState is what the index says about one repository: all the planner
// needs to decide what a deletion takes with it.
type repoState struct {
	name string
	tags map[string]digest.Digest
	// tagsOn lists the tags naming each digest, sorted.
	tagsOn map[digest.Digest][]string
	revs   map[digest.Digest]*revision
	// parents lists, for each digest, the index revisions of this
	// repository whose manifests[] name it.
	parents map[digest.Digest][]digest.Digest
	// referrers lists, for each digest, the revisions of this repository
	// whose subject it is.
	referrers map[digest.Digest][]digest.Digest
}

// revision is one manifest revision of a repository and what its body says.
type revision struct {
	digest       digest.Digest
	kind         string // manifests.kind; "" when the body was not indexed
	mediaType    string
	artifactType string
	subject      digest.Digest
	children     []digest.Digest
}

// loadRepo reads one repository from the index; nil when the index has no
// repository of that name that the registry lists.
func loadRepo(ctx context.Context, db *index.DB, name string) (*repoState, error) {
	x := db.SQLX()
	var id int64
	err := x.QueryRowContext(ctx, `SELECT id FROM repos WHERE name = ? AND listed = 1`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read repository %q from the index: %w", name, err)
	}
	r := &repoState{
		name:      name,
		tags:      map[string]digest.Digest{},
		tagsOn:    map[digest.Digest][]string{},
		revs:      map[digest.Digest]*revision{},
		parents:   map[digest.Digest][]digest.Digest{},
		referrers: map[digest.Digest][]digest.Digest{},
	}

	var tags []struct {
		Name   string `db:"name"`
		Digest string `db:"digest"`
	}
	if err := x.SelectContext(ctx, &tags, `SELECT name, digest FROM tags WHERE repo_id = ? ORDER BY name`, id); err != nil {
		return nil, fmt.Errorf("read tags of %q from the index: %w", name, err)
	}
	for _, t := range tags {
		d := digest.Digest(t.Digest)
		r.tags[t.Name] = d
		r.tagsOn[d] = append(r.tagsOn[d], t.Name)
	}

	var revs []struct {
		Digest       string `db:"digest"`
		Kind         string `db:"kind"`
		MediaType    string `db:"media_type"`
		ArtifactType string `db:"artifact_type"`
		Subject      string `db:"subject"`
	}
	// A body is read through the revision's target, the blob the registry
	// serves for it.
	err = x.SelectContext(ctx, &revs, `
		SELECT v.digest, coalesce(m.kind, '') AS kind, coalesce(m.media_type, '') AS media_type,
		       coalesce(m.artifact_type, '') AS artifact_type, coalesce(m.subject_digest, '') AS subject
		  FROM revisions v
		  LEFT JOIN manifests m ON m.digest = v.target
		 WHERE v.repo_id = ?
		 ORDER BY v.digest`, id)
	if err != nil {
		return nil, fmt.Errorf("read revisions of %q from the index: %w", name, err)
	}
	for _, v := range revs {
		rev := &revision{
			digest:       digest.Digest(v.Digest),
			kind:         v.Kind,
			mediaType:    v.MediaType,
			artifactType: v.ArtifactType,
			subject:      digest.Digest(v.Subject),
		}
		r.revs[rev.digest] = rev
		if rev.subject != "" {
			r.referrers[rev.subject] = append(r.referrers[rev.subject], rev.digest)
		}
	}

	var children []struct {
		Parent string `db:"parent"`
		Child  string `db:"child"`
	}
	err = x.SelectContext(ctx, &children, `
		SELECT v.digest AS parent, c.digest AS child
		  FROM revisions v
		  JOIN refs c ON c.manifest_digest = v.target AND c.kind = 'child'
		 WHERE v.repo_id = ?
		 ORDER BY v.digest, c.position`, id)
	if err != nil {
		return nil, fmt.Errorf("read index children of %q from the index: %w", name, err)
	}
	for _, c := range children {
		p, ch := digest.Digest(c.Parent), digest.Digest(c.Child)
		rev := r.revs[p]
		if slices.Contains(rev.children, ch) {
			continue // an index may list a child twice (two platforms)
		}
		rev.children = append(rev.children, ch)
		r.parents[ch] = append(r.parents[ch], p)
	}
	return r, nil
}

// indexedAt returns when the index's last scan finished; zero if unknown.
func indexedAt(ctx context.Context, db *index.DB) (time.Time, error) {
	var t sql.NullInt64
	err := db.SQLX().QueryRowContext(ctx, `SELECT max(finished_at) FROM scans`).Scan(&t)
	if err != nil {
		return time.Time{}, fmt.Errorf("read the index's scan time: %w", err)
	}
	if !t.Valid {
		return time.Time{}, nil
	}
	return time.Unix(t.Int64, 0).UTC(), nil
}
