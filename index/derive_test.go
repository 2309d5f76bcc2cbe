package index

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/walker"
)

// families is a registry of index families: fam holds an index whose two
// children are revisions too, one of them tagged on its own, and an index
// of that index; twin holds the same index, so what its family uses is not
// its alone; other holds an image sharing a layer with a child; alias holds
// a revision link naming another digest than its path, and a tag on it.
func families() []any {
	var (
		fx, fy, fa, fb, fc   = dg("fam index"), dg("fam index of index"), dg("fam child a"), dg("fam child b"), dg("other image")
		la, lb, lshared, cfg = dg("layer a"), dg("layer b"), dg("layer shared by b and c"), dg("config")
		ap, at               = dg("alias path"), dg("alias target")
	)
	sizes := map[digest.Digest]int64{fx: 100, fy: 90, fa: 80, fb: 70, fc: 60, la: 1000, lb: 2000, lshared: 4000, cfg: 5, at: 50}
	var recs []any
	for d, n := range sizes {
		recs = append(recs, walker.Blob{Digest: d, Size: n, ModifiedAt: t1000})
	}
	for _, name := range []string{"fam", "twin", "other", "alias"} {
		recs = append(recs, walker.Repository{Name: name, Listed: true, HasLayers: true})
	}
	childA, childB := image(fa, 80, cfg, 5, sizes, la), image(fb, 70, cfg, 5, sizes, lb, lshared)
	childA.Image.Created, childB.Image.Created = t1000, t2000
	recs = append(recs,
		childA, childB, image(fc, 60, cfg, 5, sizes, lshared), image(at, 50, cfg, 5, sizes, la),
		index(fx, 100, walker.Reference{Digest: fa, Size: 80}, walker.Reference{Digest: fb, Size: 70}),
		index(fy, 90, walker.Reference{Digest: fx, Size: 100}),
	)
	for _, d := range []digest.Digest{fx, fy, fa, fb} {
		recs = append(recs, walker.Revision{Repo: "fam", Digest: d, Target: d, LinkedAt: t1000})
	}
	recs = append(recs,
		walker.Tag{Repo: "fam", Name: "v1", Digest: fy, PushedAt: t1000},
		walker.Tag{Repo: "fam", Name: "a", Digest: fa, PushedAt: t2000},
		walker.Revision{Repo: "twin", Digest: fx, Target: fx, LinkedAt: t1000},
		walker.Revision{Repo: "twin", Digest: fa, Target: fa, LinkedAt: t1000},
		walker.Revision{Repo: "twin", Digest: fb, Target: fb, LinkedAt: t1000},
		walker.Revision{Repo: "other", Digest: fc, Target: fc, LinkedAt: t1000},
		walker.Tag{Repo: "other", Name: "c", Digest: fc, PushedAt: t1000},
		walker.Revision{Repo: "alias", Digest: ap, Target: at, LinkedAt: t1000},
		walker.Tag{Repo: "alias", Name: "x", Digest: ap, PushedAt: t1000},
	)
	return recs
}

// The derived tables, each as the SQL it stands for would compute it from
// the tables the walk loaded (the views the reports used before, and what
// they worked out on every run).
var derivedDefinitions = []struct {
	name, got, want string
}{
	{
		name: "tag_reach",
		got:  `SELECT repo_id, digest, tag, direct FROM tag_reach ORDER BY 1, 2, 3`,
		want: `WITH RECURSIVE reach(repo_id, digest, target, tag, direct) AS (
			SELECT t.repo_id, v.digest, v.target, t.name, 1
			  FROM tags t JOIN revisions v ON v.repo_id = t.repo_id AND v.digest = t.digest
			UNION
			SELECT x.repo_id, v.digest, v.target, x.tag, 0
			  FROM reach x
			  JOIN refs r ON r.manifest_digest = x.target AND r.kind = 'child'
			  JOIN revisions v ON v.repo_id = x.repo_id AND v.digest = r.digest)
			SELECT repo_id, digest, tag, max(direct) FROM reach GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
	},
	{
		name: "revision_usage",
		got: `SELECT repo_id, digest, tags, parents, family_size, family_bytes, created, subject
			FROM revision_usage ORDER BY 1, 2`,
		want: `WITH RECURSIVE
			fam(repo_id, root, digest, target) AS (
				SELECT repo_id, digest, digest, target FROM revisions
				UNION
				SELECT f.repo_id, f.root, v.digest, v.target
				  FROM fam f
				  JOIN refs c ON c.manifest_digest = f.target AND c.kind = 'child'
				  JOIN revisions v ON v.repo_id = f.repo_id AND v.digest = c.digest),
			uses(repo_id, root, blob) AS (
				SELECT repo_id, root, target FROM fam
				UNION
				SELECT f.repo_id, f.root, r.digest
				  FROM fam f JOIN refs r ON r.manifest_digest = f.target AND r.kind IN ('config', 'layer', 'child')),
			users(blob, repo_id, digest) AS (
				SELECT target, repo_id, digest FROM revisions
				UNION
				SELECT r.digest, v.repo_id, v.digest
				  FROM revisions v JOIN refs r ON r.manifest_digest = v.target AND r.kind IN ('config', 'layer', 'child'))
			SELECT v.repo_id, v.digest,
			       (SELECT count(*) FROM tagged_manifests_reference t WHERE t.repo_id = v.repo_id AND t.digest = v.digest),
			       (SELECT count(DISTINCT p.digest) FROM revisions p JOIN refs c ON c.manifest_digest = p.target AND c.kind = 'child'
			         WHERE p.repo_id = v.repo_id AND c.digest = v.digest),
			       (SELECT count(*) FROM fam f WHERE f.repo_id = v.repo_id AND f.root = v.digest),
			       coalesce((SELECT sum(b.size) FROM uses u JOIN blobs b ON b.digest = u.blob
			                  WHERE u.repo_id = v.repo_id AND u.root = v.digest
			                    AND NOT EXISTS (SELECT 1 FROM users x WHERE x.blob = u.blob
			                                      AND NOT EXISTS (SELECT 1 FROM fam f WHERE f.repo_id = v.repo_id AND f.root = v.digest
			                                                        AND x.repo_id = f.repo_id AND x.digest = f.digest))), 0),
			       coalesce(m.created, (SELECT max(cm.created) FROM refs x JOIN manifests cm ON cm.digest = x.digest
			                             WHERE x.manifest_digest = m.digest AND x.kind = 'child')),
			       m.subject_digest
			  FROM revisions v LEFT JOIN manifests m ON m.digest = v.target
			 ORDER BY 1, 2`,
	},
	{
		name: "repo_usage",
		got: `SELECT repo_id, name, tags, revisions, untagged, blobs, total_bytes, unique_bytes, shared_bytes, last_push
			FROM repo_usage ORDER BY 1`,
		want: `WITH used(repo_id, digest) AS (
				SELECT repo_id, target FROM revisions
				UNION
				SELECT v.repo_id, r.digest FROM revisions v JOIN refs r ON r.manifest_digest = v.target AND r.kind IN ('config', 'layer', 'child')),
			rb(repo_id, digest, size) AS (SELECT u.repo_id, u.digest, b.size FROM used u LEFT JOIN blobs b ON b.digest = u.digest),
			users(digest, n) AS (SELECT digest, count(*) FROM rb GROUP BY digest)
			SELECT r.id, r.name,
			       (SELECT count(*) FROM tags t WHERE t.repo_id = r.id),
			       (SELECT count(*) FROM revisions v WHERE v.repo_id = r.id),
			       (SELECT count(*) FROM revisions v WHERE v.repo_id = r.id
			           AND NOT EXISTS (SELECT 1 FROM tagged_manifests_reference t WHERE t.repo_id = v.repo_id AND t.digest = v.digest)),
			       count(rb.size), coalesce(sum(rb.size), 0),
			       coalesce(sum(CASE WHEN u.n = 1 THEN rb.size END), 0), coalesce(sum(CASE WHEN u.n > 1 THEN rb.size END), 0),
			       (SELECT max(t.pushed_at) FROM tags t WHERE t.repo_id = r.id)
			  FROM repos r LEFT JOIN rb ON rb.repo_id = r.id LEFT JOIN users u ON u.digest = rb.digest
			 GROUP BY r.id ORDER BY 1`,
	},
}

// tagged_manifests_reference is tagged_manifests as 00001 defined it,
// walking down from every tag, spliced into the definitions above.
const taggedManifestsReference = `(WITH RECURSIVE reach(repo_id, digest, target, tag) AS (
	SELECT t.repo_id, v.digest, v.target, t.name FROM tags t JOIN revisions v ON v.repo_id = t.repo_id AND v.digest = t.digest
	UNION
	SELECT x.repo_id, v.digest, v.target, x.tag FROM reach x
	  JOIN refs r ON r.manifest_digest = x.target AND r.kind = 'child'
	  JOIN revisions v ON v.repo_id = x.repo_id AND v.digest = r.digest)
	SELECT DISTINCT repo_id, digest, tag FROM reach)`

// TestDerivedMatchesDefinitions checks the derived tables that regsql
// index computes in Go against the SQL they replace, on registries of
// several shapes.
func TestDerivedMatchesDefinitions(t *testing.T) {
	tests := []struct {
		name    string
		records []any
	}{
		{name: "scenario", records: scenario()},
		{name: "families", records: families()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, _ := buildFrom(t, tt.records...)
			db := openTest(t, path)
			for _, d := range derivedDefinitions {
				got := queryRows(t, db, d.got, nil)
				want := queryRows(t, db, strings.ReplaceAll(d.want, "tagged_manifests_reference", taggedManifestsReference), nil)
				if len(got) == 0 {
					t.Errorf("%s is empty", d.name)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s =\n %v\nwant (its definition)\n %v", d.name, got, want)
				}
			}
		})
	}
}

// TestFamilyBytes spells out what deleting a family frees in the
// families registry.
func TestFamilyBytes(t *testing.T) {
	path, _ := buildFrom(t, families()...)
	db := openTest(t, path)
	tests := []struct {
		name   string
		repo   string
		digest digest.Digest
		size   int64
		bytes  int64
	}{
		// Its layer, but not its body or config, which twin and every
		// image use.
		{name: "child used in one other repository", repo: "fam", digest: dg("fam child a"), size: 1, bytes: 0},
		{name: "index held by twin too", repo: "fam", digest: dg("fam index"), size: 3, bytes: 0},
		// The index of index is fam's alone; what its index and children
		// use, twin uses too.
		{name: "index of index", repo: "fam", digest: dg("fam index of index"), size: 4, bytes: 90},
		{name: "image sharing a layer", repo: "other", digest: dg("other image"), size: 1, bytes: 60},
		{name: "alias", repo: "alias", digest: dg("alias path"), size: 1, bytes: 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := queryRows(t, db, `SELECT family_size, family_bytes FROM revision_usage u JOIN repos r ON r.id = u.repo_id
				WHERE r.name = :repo AND u.digest = :d`, map[string]string{"repo": tt.repo, "d": string(tt.digest)})
			want := [][]any{{tt.size, tt.bytes}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("revision_usage of %s@%s = %v, want %v", tt.repo, tt.digest, got, want)
			}
		})
	}
}

// TestDigestIDs checks that digests get one id each and sort as their text.
func TestDigestIDs(t *testing.T) {
	sha := func(hex string) string { return "sha256:" + hex + strings.Repeat("0", 64-len(hex)) }
	texts := []string{
		sha("ab"),
		sha("ab01"),               // the same first 8 bytes as the one above
		sha("ab") + "",            // again
		"sha256:AB" + sha("")[9:], // not canonical: a text of its own
		"sha512:" + strings.Repeat("1", 128),
		"sha256:short",
		sha("00"),
	}
	d := newDigests(0)
	ids := map[string]int32{}
	for _, s := range texts {
		id := d.id(s)
		if prev, ok := ids[s]; ok && prev != id {
			t.Errorf("id(%q) = %d, then %d", s, prev, id)
		}
		ids[s] = id
		if got := d.text(id); got != s {
			t.Errorf("text(id(%q)) = %q", s, got)
		}
		if got, ok := d.lookup(s); !ok || got != id {
			t.Errorf("lookup(%q) = %d, %v, want %d, true", s, got, ok, id)
		}
	}
	if got, want := d.len(), len(ids); got != want {
		t.Errorf("len() = %d, want %d distinct digests", got, want)
	}
	if _, ok := d.lookup(sha("ff")); ok {
		t.Errorf("lookup() of a digest never seen = true, want false")
	}
	var byID []int32
	for _, id := range ids {
		byID = append(byID, id)
	}
	slices.SortFunc(byID, d.compare)
	var got []string
	for _, id := range byID {
		got = append(got, d.text(id))
	}
	if !slices.IsSorted(got) {
		t.Errorf("compare() order = %q, want text order", got)
	}
}

// duplicates is a registry whose walk reports two rows with one key in
// tags, revisions and blobs (as an alias link, or a hand-copied
// directory, can make it), which the tables resolve by keeping the first.
func duplicates() []any {
	var (
		a, b, la, lb, cfg = dg("dup image a"), dg("dup image b"), dg("dup layer a"), dg("dup layer b"), dg("dup config")
	)
	sizes := map[digest.Digest]int64{a: 10, b: 20, la: 100, lb: 200, cfg: 5}
	return []any{
		walker.Blob{Digest: la, Size: 100, ModifiedAt: t1000},
		walker.Blob{Digest: la, Size: 999, ModifiedAt: t2000}, // kept: the first
		walker.Blob{Digest: lb, Size: 200, ModifiedAt: t1000},
		walker.Blob{Digest: cfg, Size: 5, ModifiedAt: t1000},
		walker.Blob{Digest: a, Size: 10, ModifiedAt: t1000},
		walker.Blob{Digest: b, Size: 20, ModifiedAt: t1000},
		walker.Repository{Name: "dup", Listed: true, HasLayers: true},
		image(a, 10, cfg, 5, sizes, la),
		image(b, 20, cfg, 5, sizes, lb),
		walker.Revision{Repo: "dup", Digest: a, Target: a, LinkedAt: t1000},
		walker.Revision{Repo: "dup", Digest: a, Target: b, LinkedAt: t2000}, // kept: the first, to a
		walker.Revision{Repo: "dup", Digest: b, Target: b, LinkedAt: t1000},
		walker.Tag{Repo: "dup", Name: "v1", Digest: b, PushedAt: t2000},
		walker.Tag{Repo: "dup", Name: "v1", Digest: a, PushedAt: t1000}, // kept: the first, b
		walker.Tag{Repo: "dup", Name: "old", Digest: a, PushedAt: t1000},
		walker.Repository{Name: "dup", Listed: true},
	}
}

// TestBuildGraphIsLoadGraph checks that the graph a full build assembles
// from its rows as it inserts them derives the tables that the graph read
// back from those rows (loadGraph, which incremental builds use) derives.
func TestBuildGraphIsLoadGraph(t *testing.T) {
	tables := []string{"tag_reach", "revision_usage", "repo_usage", "gc_blobs", "gc_revisions", "gc_unreached"}
	rowsSeen := map[string]int{}
	for name, records := range map[string][]any{"scenario": scenario(), "families": families(), "duplicates": duplicates()} {
		t.Run(name, func(t *testing.T) {
			path, _ := buildFrom(t, records...)
			db, err := sql.Open("sqlite", fileURI(path))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			built := map[string][]string{}
			for _, table := range tables {
				built[table] = tableRows(t, tx, table)
				if _, err := tx.ExecContext(ctx, "DELETE FROM "+table); err != nil {
					t.Fatal(err)
				}
			}
			g, err := loadGraph(ctx, tx, sizeHint{})
			if err != nil {
				t.Fatal(err)
			}
			if err := derive(ctx, tx, g, "filesystem", true, nil); err != nil {
				t.Fatal(err)
			}
			for _, table := range tables {
				rowsSeen[table] += len(built[table])
				if got := tableRows(t, tx, table); !slices.Equal(built[table], got) {
					t.Errorf("%s from the build's graph =\n %v\nfrom loadGraph\n %v", table, built[table], got)
				}
			}
		})
	}
	for _, table := range tables {
		if rowsSeen[table] == 0 {
			t.Errorf("%s is empty in every registry: it is not compared", table)
		}
	}
}

// tableRows returns every row of table, each as text, in order.
func tableRows(t *testing.T, tx *sql.Tx, table string) []string {
	t.Helper()
	rows, err := tx.Query("SELECT * FROM " + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
