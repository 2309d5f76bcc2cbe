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
--
-- Only what the list touches is worked out row by row: the tags it
-- deletes, the revisions that go, and the blobs those use. Whether such a
-- blob is marked after the deletions is asked of it, walking up from it;
-- the blobs the GC frees anyway are gc_blobs' (see unreferenced-blobs).
WITH RECURSIVE
cand(repo_id, tag, digest) AS MATERIALIZED (
    SELECT r.id, json_extract(c.value, '$.tag'), json_extract(c.value, '$.digest')
      FROM json_each(:candidates) c
      JOIN repos r ON r.name = json_extract(c.value, '$.repo')
),
-- gone: the tags a row deletes: it names the tag, and its digest if given.
gone(repo_id, name, digest) AS MATERIALIZED (
    SELECT DISTINCT t.repo_id, t.name, t.digest
      FROM cand c
     CROSS JOIN tags t ON t.repo_id = c.repo_id AND t.name = c.tag
     WHERE c.digest IS NULL OR c.digest = t.digest
),
-- asked: the revisions a row wants gone (by digest, or by deleting a tag
-- on it) whose every tag goes.
asked(repo_id, digest, target) AS MATERIALIZED (
    SELECT v.repo_id, v.digest, v.target
      FROM (SELECT repo_id, digest FROM gone
            UNION
            SELECT repo_id, digest FROM cand WHERE tag IS NULL) a
     CROSS JOIN revisions v ON v.digest = a.digest AND v.repo_id = a.repo_id
     WHERE NOT EXISTS (SELECT 1 FROM tags t
                        WHERE t.digest = v.digest AND t.repo_id = v.repo_id
                          AND NOT EXISTS (SELECT 1 FROM gone g WHERE g.repo_id = t.repo_id AND g.name = t.name))
),
-- removed: what is asked, unless an index that stays lists it, and then
-- the children of what goes that no remaining tag names and no index that
-- stays lists. (Whether an index is asked is spelled out rather than looked
-- up in asked: SQLite expands a CTE at every mention, and this one is
-- mentioned through every CTE below.)
removed(repo_id, digest, target) AS (
    SELECT a.repo_id, a.digest, a.target
      FROM asked a
     WHERE NOT EXISTS (SELECT 1 FROM refs c
                         JOIN revisions p ON p.target = c.manifest_digest AND p.repo_id = a.repo_id
                        WHERE c.digest = a.digest AND c.kind = 'child'
                          AND NOT (NOT EXISTS (SELECT 1 FROM tags t
                                                WHERE t.digest = p.digest AND t.repo_id = p.repo_id
                                                  AND NOT EXISTS (SELECT 1 FROM gone g WHERE g.repo_id = t.repo_id AND g.name = t.name))
                                   AND (EXISTS (SELECT 1 FROM gone g WHERE g.digest = p.digest AND g.repo_id = p.repo_id)
                                        OR EXISTS (SELECT 1 FROM cand c
                                                    WHERE c.repo_id = p.repo_id AND c.tag IS NULL AND c.digest = p.digest))))
    UNION
    SELECT x.repo_id, v.digest, v.target
      FROM removed x
     CROSS JOIN refs c ON c.manifest_digest = x.target AND c.kind = 'child'
     CROSS JOIN revisions v ON v.digest = c.digest AND v.repo_id = x.repo_id
     WHERE NOT EXISTS (SELECT 1 FROM tags t
                        WHERE t.digest = v.digest AND t.repo_id = v.repo_id
                          AND NOT EXISTS (SELECT 1 FROM gone g WHERE g.repo_id = t.repo_id AND g.name = t.name))
       AND NOT EXISTS (SELECT 1 FROM refs pc
                         JOIN revisions p ON p.target = pc.manifest_digest AND p.repo_id = v.repo_id
                        WHERE pc.digest = v.digest AND pc.kind = 'child' AND p.digest <> x.digest
                          AND NOT (NOT EXISTS (SELECT 1 FROM tags t
                                                WHERE t.digest = p.digest AND t.repo_id = p.repo_id
                                                  AND NOT EXISTS (SELECT 1 FROM gone g WHERE g.repo_id = t.repo_id AND g.name = t.name))
                                   AND (EXISTS (SELECT 1 FROM gone g WHERE g.digest = p.digest AND g.repo_id = p.repo_id)
                                        OR EXISTS (SELECT 1 FROM cand c
                                                    WHERE c.repo_id = p.repo_id AND c.tag IS NULL AND c.digest = p.digest))))
),
gone_revs(repo_id, digest, target) AS MATERIALIZED (
    SELECT DISTINCT repo_id, digest, target FROM removed
),
-- The registry's default mark (see unreferenced-blobs.sql) before and
-- after the deletions: every live revision (a listed repository, a blob
-- that exists) marks its digest and every reference of its body; walking
-- on through references to live revisions reaches only bodies of live
-- revisions again. So a digest is marked while a live revision has it as
-- its digest, or references it from its body.
--
-- removed_blobs: what each repository's removed manifests used: their
-- bodies, configs, layers and children (k 0 and 1), and the removed
-- revisions' own digests (k 2), which only an alias makes differ.
removed_blobs(repo_id, digest, k) AS MATERIALIZED (
    SELECT DISTINCT x.repo_id, CASE k.k WHEN 0 THEN x.target WHEN 1 THEN r.digest ELSE x.digest END, k.k
      FROM gone_revs x
      JOIN (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2) k
      LEFT JOIN refs r ON k.k = 1 AND r.manifest_digest = x.target AND r.kind IN ('config', 'layer', 'child')
     WHERE k.k <> 1 OR r.digest IS NOT NULL
),
-- freed: the blobs those deletions free: marked before and not after.
-- Only the removed revisions' digests and the blobs they used can lose
-- their mark. markers are the live revisions that mark a blob: by their
-- digest, or by a reference from their body.
freed(digest, size) AS MATERIALIZED (
    SELECT b.digest, b.size
      FROM (SELECT DISTINCT digest FROM removed_blobs) d
     CROSS JOIN blobs b ON b.digest = d.digest
     WHERE EXISTS (SELECT 1 FROM revisions l
                     JOIN repos r ON r.id = l.repo_id AND r.listed = 1
                    WHERE l.digest = b.digest
                      AND EXISTS (SELECT 1 FROM blobs x WHERE x.digest = l.target)
                   UNION ALL
                   SELECT 1 FROM refs f
                     JOIN revisions l ON l.target = f.manifest_digest
                     JOIN repos r ON r.id = l.repo_id AND r.listed = 1
                    WHERE f.digest = b.digest AND +f.kind IN ('config', 'layer', 'child')
                      AND EXISTS (SELECT 1 FROM blobs x WHERE x.digest = l.target))
       AND NOT EXISTS (
             SELECT 1
               FROM (SELECT l.repo_id, l.digest, l.target FROM revisions l
                      WHERE l.digest = b.digest
                     UNION ALL
                     SELECT l.repo_id, l.digest, l.target FROM refs f
                       JOIN revisions l ON l.target = f.manifest_digest
                      WHERE f.digest = b.digest AND +f.kind IN ('config', 'layer', 'child')) m
               JOIN repos r ON r.id = m.repo_id AND r.listed = 1
              WHERE EXISTS (SELECT 1 FROM blobs x WHERE x.digest = m.target)
                AND NOT EXISTS (SELECT 1 FROM removed_blobs g
                                 WHERE g.k = 2 AND g.repo_id = m.repo_id AND g.digest = m.digest))
),
-- already: the blobs the same GC frees whatever the list, as
-- unreferenced-blobs lists them (gc_blobs, derived by regsql index).
already(digest, size) AS (
    SELECT digest, size FROM gc_blobs WHERE swept_default
),
per_repo(repo_id, blobs, bytes) AS (
    SELECT rb.repo_id, count(f.digest), coalesce(sum(f.size), 0)
      FROM (SELECT DISTINCT repo_id, digest FROM removed_blobs WHERE k < 2) rb
      LEFT JOIN freed f ON f.digest = rb.digest
     GROUP BY rb.repo_id
),
counts(repo_id, tags_deleted, manifests_deleted) AS (
    SELECT repo_id, sum(tags), sum(manifests)
      FROM (SELECT repo_id, 1 AS tags, 0 AS manifests FROM gone
            UNION ALL
            SELECT repo_id, 0, 1 FROM gone_revs)
     GROUP BY repo_id
),
summary(freed_blobs, freed_bytes, already_blobs, already_bytes) AS (
    SELECT CASE WHEN EXISTS (SELECT 1 FROM blobs) THEN f.n END, f.bytes,
           CASE WHEN EXISTS (SELECT 1 FROM blobs) THEN a.n END, a.bytes
      FROM (SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM freed) f,
           (SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM already) a
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
           (SELECT count(*) FROM (SELECT repo_id, digest FROM asked
                                  UNION
                                  SELECT c.repo_id, v.digest
                                    FROM cand c
                                   CROSS JOIN revisions v ON v.digest = c.digest AND v.repo_id = c.repo_id
                                   WHERE c.tag IS NULL) a
             WHERE NOT EXISTS (SELECT 1 FROM gone_revs x WHERE x.repo_id = a.repo_id AND x.digest = a.digest))
)
SELECT * FROM (
    SELECT 'repo' AS scope, r.name AS repo, c.tags_deleted, c.manifests_deleted,
           coalesce(p.blobs, 0) AS blobs, coalesce(p.bytes, 0) AS bytes, NULL AS note
      FROM counts c
      JOIN repos r ON r.id = c.repo_id
      LEFT JOIN per_repo p ON p.repo_id = c.repo_id
    UNION ALL
    SELECT CASE x.k WHEN 0 THEN 'total' ELSE 'already_unreferenced' END, NULL,
           CASE x.k WHEN 0 THEN t.tags END,
           CASE x.k WHEN 0 THEN t.manifests END,
           CASE x.k WHEN 0 THEN s.freed_blobs ELSE s.already_blobs END,
           CASE x.k WHEN 0 THEN s.freed_bytes ELSE s.already_bytes END,
           CASE
             WHEN x.k = 1 THEN 'freed by the same GC whatever the list: see unreferenced-blobs'
             WHEN k.rows + k.kept > 0
             THEN printf('%d row(s) name nothing in the index (unknown, or the tag moved); %d manifest(s) stay: another tag or an index that stays still names them', k.rows, k.kept)
           END
      FROM summary s, skipped k,
           (SELECT coalesce(sum(tags_deleted), 0) AS tags, coalesce(sum(manifests_deleted), 0) AS manifests FROM counts) t,
           (SELECT 0 AS k UNION ALL SELECT 1) x
)
 ORDER BY CASE scope WHEN 'repo' THEN 0 WHEN 'total' THEN 1 ELSE 2 END, repo;
