-- name: gc-hazards
-- description: What "registry garbage-collect" would do that you probably do not want: abort, delete blobs of tagged images, untagged signatures and SBOMs, blobs of pushes in flight
-- param: recent = 1h                 blobs written and uploads started this recently hint at pushes in flight
-- kind: report

-- One row per finding. mode says when it applies: always, or only with
-- --delete-untagged. The hazards:
--   gc-aborts            the GC stops with an error and deletes nothing:
--                        a listed repository without _layers (on every
--                        driver but S3), a readable revision whose body the
--                        registry cannot parse (schema1, unknown media type,
--                        invalid JSON), a link it cannot parse, a
--                        repository name it cannot parse.
--   tagged-blob-deleted  a blob of a manifest a tag reaches that the mark
--                        misses (its repository-order skip, see
--                        unreferenced-blobs-untagged): pulls of the tag fail.
--   referrer-deleted     an untagged signature, SBOM or attestation of a
--                        manifest a tag reaches.
--   no-tags              a repository with revisions and no tags: the GC
--                        deletes the blobs of its manifests but keeps their
--                        revision links, which then fail to pull.
--   layers-only-blob     a blob only a directory without _manifests links:
--                        deleted, leaving that link dangling.
--   non-sha256           a reference by a non-sha256 digest: the blob the
--                        registry stored under sha256 is deleted.
--   recent-blob          an unreferenced blob written within :recent: maybe
--                        a push in flight, which the GC (it takes no lock)
--                        would break.
--   upload-in-progress   an upload started within :recent: the registry is
--                        in use; stop it or make it read-only first.
-- The --delete-untagged mark is that of unreferenced-blobs-untagged.sql;
-- the default one that of unreferenced-blobs.sql.
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
,
d_roots(repo_id, digest, body) AS (
    SELECT DISTINCT v.repo_id, l.digest, l.body
      FROM revisions v
      JOIN live l ON l.repo_id = v.repo_id AND l.digest = v.target
),
d_reach(repo_id, body, depth) AS (
    SELECT repo_id, body, 0 FROM d_roots
    UNION
    SELECT d_reach.repo_id, l.body, d_reach.depth + 1
      FROM d_reach
      JOIN refs r ON r.manifest_digest = d_reach.body AND r.kind IN ('config', 'layer', 'child')
      JOIN live l ON l.repo_id = d_reach.repo_id AND l.digest = r.digest
     WHERE d_reach.depth < 8
),
d_marked(digest) AS (
    SELECT digest FROM d_roots
    UNION
    SELECT r.digest
      FROM d_reach
      JOIN refs r ON r.manifest_digest = d_reach.body AND r.kind IN ('config', 'layer', 'child')
),
-- eligible: the blobs each mode deletes; the default mode's are a subset.
eligible(digest, size, modified_at, mode) AS (
    SELECT b.digest, b.size, b.modified_at,
           CASE WHEN b.digest IN (SELECT digest FROM d_marked) THEN 'delete-untagged' ELSE 'always' END
      FROM blobs b
     WHERE b.digest NOT IN (SELECT digest FROM marked)
),
-- queued: the untagged manifests --delete-untagged deletes (see
-- unreferenced-manifests-untagged.sql).
queued(repo_id, digest, body) AS (
    SELECT DISTINCT q.repo_id, q.digest, q.body
      FROM revisions v
      JOIN live q ON q.repo_id = v.repo_id AND q.digest = v.target
     WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = v.repo_id AND t.digest = q.digest)
       AND (EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = v.repo_id)
            OR EXISTS (SELECT 1 FROM tag_history h WHERE h.repo_id = v.repo_id))
       AND q.digest NOT IN (SELECT digest FROM marked)
),
manifest_blobs(body, blob) AS (
    SELECT digest, digest FROM manifests
    UNION
    SELECT manifest_digest, digest FROM refs WHERE kind IN ('config', 'layer')
),
hazards(hazard, mode, repo, digest, bytes, detail) AS (
    SELECT 'gc-aborts', 'always', r.name, NULL, NULL,
           'the repository has _manifests but no _layers: the GC fails walking it'
      FROM repos r
     WHERE r.listed = 1 AND r.has_layers = 0
       AND coalesce((SELECT driver FROM scans ORDER BY id DESC LIMIT 1), '') NOT IN ('s3', 's3-aws')
    UNION ALL
    SELECT 'gc-aborts', 'always', r.name, l.digest, NULL,
           'the registry cannot read this ' || m.kind || ' manifest (' || m.media_type || ')'
      FROM live l
      JOIN repos r ON r.id = l.repo_id
      JOIN manifests m ON m.digest = l.body
     WHERE m.kind NOT IN ('image', 'index')
    UNION ALL
    SELECT 'gc-aborts', 'always', r.name, NULL, NULL,
           'the registry cannot parse this repository name: ' || p.message
      FROM problems p
      JOIN repos r ON r.id = p.repo_id AND r.listed = 1
     WHERE p.kind = 'invalid_repo_name'
    UNION ALL
    SELECT 'gc-aborts', CASE WHEN p.path GLOB '*/_manifests/tags/*' THEN 'delete-untagged' ELSE 'always' END,
           r.name, p.digest, NULL, p.path || ': ' || p.message
      FROM problems p
      JOIN repos r ON r.id = p.repo_id AND r.listed = 1
     WHERE p.kind = 'bad_link'
       AND (p.path GLOB '*/_manifests/revisions/*' OR p.path GLOB '*/_layers/*'
            OR p.path GLOB '*/_manifests/tags/*/current/link')
    UNION ALL
    SELECT DISTINCT 'tagged-blob-deleted', 'delete-untagged', r.name, e.digest, e.size,
           'used by ' || tm.digest || ', which tag ' || tm.via_tag || ' reaches; the mark skips it'
      FROM tagged_manifests tm
      JOIN repos r ON r.id = tm.repo_id AND r.listed = 1
      JOIN revisions v ON v.repo_id = tm.repo_id AND v.digest = tm.digest
      JOIN manifest_blobs mb ON mb.body = v.target
      JOIN eligible e ON e.digest = mb.blob
    UNION ALL
    SELECT 'referrer-deleted', 'delete-untagged', r.name, q.digest, m.size,
           'untagged ' || coalesce(m.artifact_type, m.media_type) || ' of ' || m.subject_digest || ', which a tag reaches'
      FROM queued q
      JOIN repos r ON r.id = q.repo_id
      JOIN manifests m ON m.digest = q.body
     WHERE EXISTS (SELECT 1 FROM tagged_manifests tm WHERE tm.repo_id = q.repo_id AND tm.digest = m.subject_digest)
    UNION ALL
    SELECT 'no-tags', 'delete-untagged', r.name, l.digest,
           (SELECT coalesce(sum(e.size), 0) FROM manifest_blobs mb JOIN eligible e ON e.digest = mb.blob WHERE mb.body = l.body),
           'the repository has no tags: its manifests lose their blobs and keep their revision links'
      FROM live l
      JOIN repos r ON r.id = l.repo_id
     WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = l.repo_id)
       AND NOT EXISTS (SELECT 1 FROM tag_history h WHERE h.repo_id = l.repo_id)
    UNION ALL
    SELECT 'layers-only-blob', e.mode, r.name, e.digest, e.size,
           'only ' || r.name || ' links it, which the registry does not list: the link is left dangling'
      FROM layer_links ll
      JOIN repos r ON r.id = ll.repo_id AND r.listed = 0
      JOIN eligible e ON e.digest = ll.digest
    UNION ALL
    SELECT 'non-sha256', 'always', r.name, p.digest, NULL, p.path || ': ' || p.message
      FROM problems p
      LEFT JOIN repos r ON r.id = p.repo_id
     WHERE p.kind = 'non_sha256'
    UNION ALL
    SELECT 'recent-blob', e.mode, NULL, e.digest, e.size,
           'written ' || datetime(e.modified_at, 'unixepoch') || ' UTC and referenced by nothing yet: maybe a push in flight'
      FROM eligible e
     WHERE e.modified_at >= :now - :recent
    UNION ALL
    SELECT 'upload-in-progress', 'always', r.name, NULL, u.size,
           'upload ' || u.uuid || ' started ' || datetime(u.started_at, 'unixepoch') || ' UTC: the registry is in use'
      FROM uploads u
      JOIN repos r ON r.id = u.repo_id
     WHERE u.started_at >= :now - :recent
)
SELECT * FROM hazards
 ORDER BY hazard, repo, digest;
