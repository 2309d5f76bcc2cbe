-- name: unreferenced-manifests-untagged
-- description: Manifest revisions "registry garbage-collect --delete-untagged" deletes: untagged, and not marked through any tagged manifest in any repository
-- kind: report

-- The registry's sweep of manifests with --delete-untagged: every revision
-- no tag of its repository names is queued, and dropped from the queue when
-- the global mark reached its digest anyway (an index child, or a digest
-- tagged in another repository). A repository with no tags/ directory at
-- all queues nothing (the registry skips it, and deletes the blobs of its
-- manifests while keeping the revision links); the index cannot see an
-- empty tags/ directory, so a repository whose tags were all deleted is
-- taken to have none. The mark is that of unreferenced-blobs-untagged.sql,
-- copied between the begin and end lines (a test keeps the copies equal).
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
SELECT r.name AS repo,
       q.digest,
       m.media_type,
       m.artifact_type,
       m.subject_digest,
       m.size,
       min(v.linked_at) AS linked_at
  FROM revisions v
  JOIN live q ON q.repo_id = v.repo_id AND q.digest = v.target
  JOIN repos r ON r.id = v.repo_id
  LEFT JOIN manifests m ON m.digest = q.body
 WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = v.repo_id AND t.digest = q.digest)
   AND (EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = v.repo_id)
        OR EXISTS (SELECT 1 FROM tag_history h WHERE h.repo_id = v.repo_id))
   AND q.digest NOT IN (SELECT digest FROM marked)
 GROUP BY r.name, q.digest
 ORDER BY r.name, q.digest;
