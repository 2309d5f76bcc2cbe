-- name: unreferenced-blobs-untagged
-- description: Blobs "registry garbage-collect --delete-untagged" deletes: in no manifest a tag reaches, through index children; untagged signatures and SBOMs included
-- kind: report

-- The registry's mark phase with --delete-untagged, exactly, defects
-- included (registry/storage/garbagecollect.go). Repositories are visited
-- in catalog order and each one's revisions in digest order. A revision is
-- a root only when some tag's current/link names it (tag history does not
-- count). A root marks its digest and every descriptor of its body, and
-- descends into a descriptor that is a readable revision of the same
-- repository, but only when that digest was not marked before: a manifest
-- first met as an index child in a repository where it is not a revision
-- is marked without its config and layers, and a later meeting in a
-- repository that has it does not mark them either (gc-hazards lists such
-- blobs). seen is every meeting the mark would make if it never skipped,
-- with a key that sorts in the order the registry makes them; first is the
-- earliest meeting of each digest; marks replays the walk, descending past
-- a root only at a digest's first meeting. unreferenced-manifests-untagged
-- and gc-hazards hold the same block between the begin and end lines (a
-- test keeps the copies equal); reports_test.go checks the results against
-- the registry's own MarkAndSweep.
WITH RECURSIVE
-- begin: the mark of registry garbage-collect --delete-untagged
live(repo_id, digest, body) AS (
    SELECT v.repo_id, v.digest, v.target
      FROM revisions v
      JOIN repos r ON r.id = v.repo_id AND r.listed = 1
      JOIN blobs b ON b.digest = v.target
),
-- The catalog's order: a sorted depth-first walk everywhere but on S3,
-- whose walk is one flat listing sorted by key.
repo_rank(repo_id, rank) AS (
    SELECT id, row_number() OVER (ORDER BY
             CASE WHEN (SELECT driver FROM scans ORDER BY id DESC LIMIT 1) IN ('s3', 's3-aws')
                  THEN name || '/'
                  ELSE replace(name, '/', char(1)) END)
      FROM repos
     WHERE listed = 1
),
roots(repo_id, digest, body, key) AS (
    SELECT v.repo_id, l.digest, l.body, printf('%09d|%s', k.rank, min(v.digest))
      FROM revisions v
      JOIN live l ON l.repo_id = v.repo_id AND l.digest = v.target
      JOIN repo_rank k ON k.repo_id = v.repo_id
     WHERE EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = v.repo_id AND t.digest = l.digest)
     GROUP BY v.repo_id, l.digest, l.body
),
seen(repo_id, digest, body, key, depth) AS (
    SELECT repo_id, digest, body, key, 0 FROM roots
    UNION ALL
    SELECT s.repo_id, r.digest, l.body,
           s.key || printf('.%d%06d', r.kind <> 'config', r.position), s.depth + 1
      FROM seen s
      JOIN refs r ON r.manifest_digest = s.body AND r.kind IN ('config', 'layer', 'child')
      LEFT JOIN live l ON l.repo_id = s.repo_id AND l.digest = r.digest
     WHERE s.body IS NOT NULL AND s.depth < 8
),
first(digest, key) AS MATERIALIZED (
    SELECT digest, min(key) FROM seen GROUP BY digest
),
marks(repo_id, digest, body, key, depth) AS (
    SELECT repo_id, digest, body, key, 0 FROM roots
    UNION ALL
    SELECT m.repo_id, r.digest, l.body,
           m.key || printf('.%d%06d', r.kind <> 'config', r.position), m.depth + 1
      FROM marks m
      JOIN first f ON f.digest = m.digest
      JOIN refs r ON r.manifest_digest = m.body AND r.kind IN ('config', 'layer', 'child')
      LEFT JOIN live l ON l.repo_id = m.repo_id AND l.digest = r.digest
     WHERE m.body IS NOT NULL AND m.depth < 8 AND (m.depth = 0 OR f.key = m.key)
),
marked(digest) AS (
    SELECT DISTINCT digest FROM marks
)
-- end: the mark of registry garbage-collect --delete-untagged
SELECT b.digest,
       b.size,
       b.modified_at,
       CASE
         WHEN EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest) THEN 'manifest'
         WHEN EXISTS (SELECT 1 FROM refs r WHERE r.digest = b.digest AND r.kind = 'config') THEN 'config'
         WHEN EXISTS (SELECT 1 FROM refs r WHERE r.digest = b.digest AND r.kind = 'layer') THEN 'layer'
         WHEN EXISTS (SELECT 1 FROM refs r WHERE r.digest = b.digest AND r.kind = 'child') THEN 'manifest'
         ELSE 'blob'
       END AS what,
       (SELECT group_concat(name, ' ') FROM (
            SELECT r.name FROM layer_links ll JOIN repos r ON r.id = ll.repo_id
             WHERE ll.digest = b.digest ORDER BY r.name)) AS layer_linked_in
  FROM blobs b
 WHERE b.digest NOT IN (SELECT digest FROM marked)
 ORDER BY b.digest;
