-- name: reclaimable
-- description: What deleting a candidate list (--from FILE) frees after "registry garbage-collect": blobs and bytes per repository and in total, deduplicated across repositories
-- param: candidates = []             the candidate list as a JSON array; "regsql run reclaimable --from FILE" fills it
-- kind: report

-- The list is applied as the deleter does: a tag row deletes the tag when
-- it still names the row's digest (if given); a manifest goes when a
-- digest row names it or its last tag goes, and every tag on it is in the
-- list (else it stays: deleting it would take the other tags), unless an
-- index in its repository that stays lists it; an index that goes takes its
-- child manifests that no remaining tag names and no index that stays
-- lists (a child of a child index that goes counts that middle index as
-- staying, so a nested index can leave grandchildren behind here). Referrers of deleted manifests stay. Then the registry's GC
-- (default mode: marking from every revision) frees each blob that was
-- marked before and is not after. A blob freed by deletions in two
-- repositories counts in both rows and once in the total. The
-- already_unreferenced row is what the same GC frees anyway.
WITH RECURSIVE
cand(repo_id, tag, digest) AS (
    SELECT r.id, json_extract(c.value, '$.tag'), json_extract(c.value, '$.digest')
      FROM json_each(:candidates) c
      JOIN repos r ON r.name = json_extract(c.value, '$.repo')
),
-- tag_state: every tag, gone = 1 when a row deletes it.
tag_state(repo_id, name, digest, gone) AS (
    SELECT t.repo_id, t.name, t.digest,
           EXISTS (SELECT 1 FROM cand c
                    WHERE c.repo_id = t.repo_id AND c.tag = t.name
                      AND (c.digest IS NULL OR c.digest = t.digest))
      FROM tags t
),
-- rev_fate: every revision, asked = 1 when a row wants it gone (by digest,
-- or by deleting a tag on it) and every tag on it goes.
rev_fate(repo_id, digest, target, asked) AS (
    SELECT v.repo_id, v.digest, v.target,
           coalesce(s.kept, 0) = 0
           AND (coalesce(s.gone, 0) > 0
                OR EXISTS (SELECT 1 FROM cand c
                            WHERE c.repo_id = v.repo_id AND c.tag IS NULL AND c.digest = v.digest))
      FROM revisions v
      LEFT JOIN (SELECT repo_id, digest, sum(gone) AS gone, sum(NOT gone) AS kept
                   FROM tag_state GROUP BY repo_id, digest) s
             ON s.repo_id = v.repo_id AND s.digest = v.digest
),
-- removed: what is asked, unless an index that stays lists it, and then
-- the children of what goes that no remaining tag names and no index that
-- stays lists.
removed(repo_id, digest, target) AS (
    SELECT a.repo_id, a.digest, a.target
      FROM rev_fate a
     WHERE a.asked
       AND NOT EXISTS (SELECT 1 FROM refs c
                         JOIN rev_fate p ON p.target = c.manifest_digest AND p.repo_id = a.repo_id
                        WHERE c.digest = a.digest AND c.kind = 'child' AND NOT p.asked)
    UNION
    SELECT x.repo_id, v.digest, v.target
      FROM removed x
      JOIN refs c ON c.manifest_digest = x.target AND c.kind = 'child'
      JOIN rev_fate v ON v.repo_id = x.repo_id AND v.digest = c.digest
     WHERE NOT EXISTS (SELECT 1 FROM tag_state t
                        WHERE t.repo_id = v.repo_id AND t.digest = v.digest AND NOT t.gone)
       AND NOT EXISTS (SELECT 1 FROM refs pc
                         JOIN rev_fate p ON p.target = pc.manifest_digest AND p.repo_id = v.repo_id
                        WHERE pc.digest = v.digest AND pc.kind = 'child'
                          AND NOT p.asked AND p.digest <> x.digest)
),
-- The registry's default mark (see unreferenced-blobs.sql) before (phase 0)
-- and after (phase 1) the deletions, in one walk: mark holds every digest
-- marked, with the body to descend into when it is a readable revision of
-- the repository.
live(phase, repo_id, digest, body) AS (
    SELECT p.phase, v.repo_id, v.digest, v.target
      FROM revisions v
      JOIN repos r ON r.id = v.repo_id AND r.listed = 1
      JOIN blobs b ON b.digest = v.target
      JOIN (SELECT 0 AS phase UNION ALL SELECT 1) p
     WHERE p.phase = 0
        OR NOT EXISTS (SELECT 1 FROM removed x WHERE x.repo_id = v.repo_id AND x.digest = v.digest)
),
mark(phase, repo_id, digest, body, depth) AS (
    SELECT phase, repo_id, digest, body, 0 FROM live
    UNION
    SELECT m.phase, m.repo_id, r.digest, l.body, m.depth + 1
      FROM mark m
      JOIN refs r ON r.manifest_digest = m.body AND r.kind IN ('config', 'layer', 'child')
      LEFT JOIN live l ON l.phase = m.phase AND l.repo_id = m.repo_id AND l.digest = r.digest
     WHERE m.body IS NOT NULL AND m.depth < 8
),
-- blob_fate: freed when marked before and not after; already when the GC
-- frees it anyway. (What is marked after was marked before: the deletions
-- only take roots away.)
blob_fate(digest, size, fate) AS (
    SELECT b.digest, b.size,
           CASE WHEN p.after IS NULL THEN 'already' WHEN p.after = 0 THEN 'freed' ELSE 'kept' END
      FROM blobs b
      LEFT JOIN (SELECT digest, max(phase) AS after FROM mark GROUP BY digest) p ON p.digest = b.digest
),
-- removed_blobs: what each repository's removed manifests used: their
-- bodies, configs, layers and children.
removed_blobs(repo_id, digest) AS (
    SELECT DISTINCT x.repo_id, CASE k.k WHEN 0 THEN x.target ELSE r.digest END
      FROM removed x
      JOIN (SELECT 0 AS k UNION ALL SELECT 1) k
      LEFT JOIN refs r ON k.k = 1 AND r.manifest_digest = x.target AND r.kind IN ('config', 'layer', 'child')
     WHERE k.k = 0 OR r.digest IS NOT NULL
),
per_repo(repo_id, blobs, bytes) AS (
    SELECT rb.repo_id, count(f.digest), coalesce(sum(f.size), 0)
      FROM removed_blobs rb
      LEFT JOIN blob_fate f ON f.digest = rb.digest AND f.fate = 'freed'
     GROUP BY rb.repo_id
),
counts(repo_id, tags_deleted, manifests_deleted) AS (
    SELECT repo_id, sum(tags), sum(manifests)
      FROM (SELECT repo_id, 1 AS tags, 0 AS manifests FROM tag_state WHERE gone
            UNION ALL
            SELECT repo_id, 0, 1 FROM removed)
     GROUP BY repo_id
),
summary(freed_blobs, freed_bytes, already_blobs, already_bytes) AS (
    SELECT sum(fate = 'freed'), coalesce(sum(CASE fate WHEN 'freed' THEN size END), 0),
           sum(fate = 'already'), coalesce(sum(CASE fate WHEN 'already' THEN size END), 0)
      FROM blob_fate
),
-- skipped: rows that delete nothing the index knows (unknown, or the tag
-- moved), and manifests rows want gone that stay.
skipped(rows, kept) AS (
    SELECT (SELECT count(*) FROM json_each(:candidates) j
             WHERE NOT EXISTS (
                   SELECT 1 FROM repos r
                    WHERE r.name = json_extract(j.value, '$.repo')
                      AND (EXISTS (SELECT 1 FROM tags t
                                    WHERE t.repo_id = r.id AND t.name = json_extract(j.value, '$.tag')
                                      AND (json_extract(j.value, '$.digest') IS NULL
                                           OR t.digest = json_extract(j.value, '$.digest')))
                           OR (json_extract(j.value, '$.tag') IS NULL
                               AND EXISTS (SELECT 1 FROM revisions v
                                            WHERE v.repo_id = r.id AND v.digest = json_extract(j.value, '$.digest')))))),
           (SELECT count(*) FROM rev_fate a
             WHERE (a.asked OR EXISTS (SELECT 1 FROM cand c
                                        WHERE c.repo_id = a.repo_id AND c.tag IS NULL AND c.digest = a.digest))
               AND NOT EXISTS (SELECT 1 FROM removed x WHERE x.repo_id = a.repo_id AND x.digest = a.digest))
)
SELECT * FROM (
    SELECT 'repo' AS scope, r.name AS repo, c.tags_deleted, c.manifests_deleted,
           coalesce(p.blobs, 0) AS blobs, coalesce(p.bytes, 0) AS bytes, NULL AS note
      FROM counts c
      JOIN repos r ON r.id = c.repo_id
      LEFT JOIN per_repo p ON p.repo_id = c.repo_id
    UNION ALL
    SELECT 'total', NULL,
           (SELECT coalesce(sum(tags_deleted), 0) FROM counts),
           (SELECT coalesce(sum(manifests_deleted), 0) FROM counts),
           s.freed_blobs, s.freed_bytes,
           CASE WHEN k.rows + k.kept > 0
                THEN printf('%d row(s) name nothing in the index (unknown, or the tag moved); %d manifest(s) stay: another tag or an index that stays still names them', k.rows, k.kept)
           END
      FROM summary s, skipped k
    UNION ALL
    SELECT 'already_unreferenced', NULL, NULL, NULL, already_blobs, already_bytes,
           'freed by the same GC whatever the list: see unreferenced-blobs'
      FROM summary
)
 ORDER BY CASE scope WHEN 'repo' THEN 0 WHEN 'total' THEN 1 ELSE 2 END, repo;
