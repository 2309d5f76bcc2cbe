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
-- The catalog's order: a sorted depth-first walk everywhere but on S3,
-- whose walk is one flat listing sorted by key.
repo_rank(repo_id, rank) AS MATERIALIZED (
    SELECT id, row_number() OVER (ORDER BY
             CASE WHEN (SELECT driver FROM scans ORDER BY id DESC LIMIT 1) IN ('s3', 's3-aws')
                  THEN name || '/'
                  ELSE replace(name, '/', char(1)) END)
      FROM repos
     WHERE listed = 1
),
-- roots: per repository, each digest a tag names that is a live revision
-- (its link names a blob that exists) and the content of some revision
-- link of the repository.
roots(repo_id, digest, body) AS MATERIALIZED (
    SELECT l.repo_id, l.digest, l.target
      FROM (SELECT digest, repo_id FROM tags GROUP BY digest, repo_id) t
     CROSS JOIN revisions l ON l.digest = t.digest AND l.repo_id = t.repo_id
      JOIN repos r ON r.id = l.repo_id AND r.listed = 1
     WHERE EXISTS (SELECT 1 FROM blobs b WHERE b.digest = l.target)
       AND (l.digest = l.target
            OR EXISTS (SELECT 1 FROM revisions v WHERE v.target = l.digest AND v.repo_id = l.repo_id))
),
-- edges: the references the mark can descend through: index children,
-- and configs or layers whose digest is some repository's revision.
edges(manifest_digest, digest, kind, position) AS MATERIALIZED (
    SELECT manifest_digest, digest, kind, position FROM refs WHERE kind = 'child'
    UNION ALL
    SELECT r.manifest_digest, r.digest, r.kind, r.position
      FROM (SELECT digest FROM revisions GROUP BY digest) d
     CROSS JOIN refs r ON r.digest = d.digest AND r.kind IN ('config', 'layer')
),
-- keyed: the roots the walk below meets: those whose body has edges, and
-- those whose digest an edge names; key sorts them in the order the
-- registry visits them: repositories in catalog order, then revisions in
-- digest order of the links that name them.
keyed(repo_id, digest, body, key) AS MATERIALIZED (
    SELECT o.repo_id, o.digest, o.body,
           printf('%09d|%s', (SELECT rank FROM repo_rank k WHERE k.repo_id = o.repo_id),
                  (SELECT min(v.digest) FROM revisions v WHERE v.target = o.digest AND v.repo_id = o.repo_id))
      FROM roots o
     WHERE o.body IN (SELECT manifest_digest FROM edges)
        OR o.digest IN (SELECT digest FROM edges)
),
-- seen: every meeting of a digest the walk from those roots would make if
-- it never skipped, with a key that sorts in the order the registry makes
-- them (the root's key, then each reference's place: config first, then
-- layers or children in order). Meetings of digests that are no revision
-- anywhere (plain configs and layers) are left out: the registry never
-- descends into them.
seen(repo_id, digest, body, key, depth) AS MATERIALIZED (
    SELECT repo_id, digest, body, key, 0 FROM keyed
    UNION ALL
    SELECT s.repo_id, e.digest, l.target,
           s.key || printf('.%d%06d', e.kind <> 'config', e.position), s.depth + 1
      FROM seen s
      JOIN edges e ON e.manifest_digest = s.body
      LEFT JOIN revisions l ON l.repo_id = s.repo_id AND l.digest = e.digest
                           AND EXISTS (SELECT 1 FROM blobs b WHERE b.digest = l.target)
     WHERE s.body IS NOT NULL AND s.depth < 8
),
-- met: each meeting with whether the registry descends there: always at a
-- root; below, at the digest's first meeting when it is a readable
-- revision of the repository less than 8 levels down.
met(repo_id, digest, body, key, depth, descends) AS (
    SELECT repo_id, digest, body, key, depth,
           depth = 0 OR (body IS NOT NULL AND depth < 8 AND key = min(key) OVER (PARTITION BY digest))
      FROM seen
),
-- marks: the meetings the registry does make: those with no meeting above
-- them that does not descend. Keys sort every meeting's subtree right
-- after it, so a meeting is below one that does not descend when its key
-- sorts before the end (key || '/') of such a meeting earlier in key order.
marks(repo_id, digest, body, depth, descends, skipped) AS (
    SELECT repo_id, digest, body, depth, descends,
           key < coalesce(max(CASE WHEN NOT descends THEN key || '/' END)
                              OVER (ORDER BY key ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), '')
      FROM met
),
-- unreached: manifests whose references the mark does not mark: no root's
-- body, and no body the walk descends into. The mark marks the roots'
-- digests and every reference of every other manifest. (The index writes
-- a manifest's references only with its row in manifests.)
unreached(body) AS MATERIALIZED (
    SELECT digest FROM manifests
    EXCEPT
    SELECT body FROM roots
    EXCEPT
    SELECT body FROM marks WHERE descends AND NOT skipped AND depth > 0
     ORDER BY 1
)
-- end: the mark of registry garbage-collect --delete-untagged
,
-- The default mark, as unreferenced-blobs.sql computes it: d_unreached
-- are the manifests no root reaches.
d_u0(body) AS MATERIALIZED (
    SELECT digest FROM manifests
    EXCEPT
    SELECT l.target
      FROM revisions l
      JOIN repos r ON r.id = l.repo_id AND r.listed = 1
     WHERE EXISTS (SELECT 1 FROM blobs b WHERE b.digest = l.target)
       AND (l.digest = l.target
            OR EXISTS (SELECT 1 FROM revisions v WHERE v.target = l.digest AND v.repo_id = l.repo_id))
     ORDER BY 1
),
d_up(origin, repo_id, body, dist) AS (
    SELECT u.body, l.repo_id, u.body, 0
      FROM d_u0 u
     CROSS JOIN revisions l ON l.target = u.body
      JOIN repos r ON r.id = l.repo_id AND r.listed = 1
    UNION
    SELECT d_up.origin, d_up.repo_id, p.manifest_digest, d_up.dist + 1
      FROM d_up
     CROSS JOIN revisions l ON l.target = d_up.body AND l.repo_id = d_up.repo_id
      JOIN refs p ON p.digest = l.digest AND p.kind IN ('config', 'layer', 'child')
     WHERE d_up.dist < 8 AND EXISTS (SELECT 1 FROM blobs b WHERE b.digest = d_up.body)
),
d_unreached(body) AS MATERIALIZED (
    SELECT body FROM d_u0
    EXCEPT
    SELECT d_up.origin
      FROM d_up
     CROSS JOIN revisions l ON l.target = d_up.body AND l.repo_id = d_up.repo_id
     WHERE EXISTS (SELECT 1 FROM blobs b WHERE b.digest = l.target)
       AND EXISTS (SELECT 1 FROM revisions v WHERE v.target = l.digest AND v.repo_id = l.repo_id)
),
-- d_unmarked: the blobs the default mode deletes.
d_unmarked(digest) AS MATERIALIZED (
    SELECT digest FROM blobs
    EXCEPT
    SELECT digest FROM refs WHERE kind IN ('config', 'layer', 'child')
    UNION
    SELECT r.digest
      FROM d_unreached u
     CROSS JOIN refs r ON r.manifest_digest = u.body AND r.kind IN ('config', 'layer', 'child')
     WHERE EXISTS (SELECT 1 FROM blobs b WHERE b.digest = r.digest)
       AND NOT EXISTS (SELECT 1 FROM refs o
                        WHERE o.digest = r.digest AND o.kind IN ('config', 'layer', 'child')
                          AND o.manifest_digest NOT IN (SELECT body FROM d_unreached))
    EXCEPT
    SELECT l.digest
      FROM revisions l
      JOIN repos r ON r.id = l.repo_id AND r.listed = 1
     WHERE EXISTS (SELECT 1 FROM blobs b WHERE b.digest = l.target)
       AND (l.digest = l.target
            OR EXISTS (SELECT 1 FROM revisions v WHERE v.target = l.digest AND v.repo_id = l.repo_id))
     ORDER BY 1
),
-- eligible: the blobs --delete-untagged deletes; the default mode's
-- (d_unmarked) are a subset.
eligible(digest, size, modified_at) AS MATERIALIZED (
    SELECT b.digest, b.size, b.modified_at
      FROM (SELECT digest FROM blobs
            EXCEPT
            SELECT digest FROM refs
             WHERE kind IN ('config', 'layer', 'child')
               AND manifest_digest NOT IN (SELECT body FROM unreached)
            EXCEPT
            SELECT digest FROM roots
             ORDER BY 1) u
     CROSS JOIN blobs b ON b.digest = u.digest
),
-- queued: the untagged manifests --delete-untagged deletes (see
-- unreferenced-manifests-untagged.sql).
queued(repo_id, digest, body) AS MATERIALIZED (
    SELECT q.repo_id, q.digest, q.target
      FROM (SELECT digest, repo_id FROM revisions
            EXCEPT
            SELECT digest, repo_id FROM tags
             ORDER BY 1, 2) u
     CROSS JOIN revisions q ON q.digest = u.digest AND q.repo_id = u.repo_id
      JOIN repos r ON r.id = q.repo_id AND r.listed = 1
     WHERE EXISTS (SELECT 1 FROM blobs b WHERE b.digest = q.target)
       AND (q.digest = q.target
            OR EXISTS (SELECT 1 FROM revisions v WHERE v.target = q.digest AND v.repo_id = q.repo_id))
       AND (EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = q.repo_id)
            OR EXISTS (SELECT 1 FROM tag_history h WHERE h.repo_id = q.repo_id))
       AND NOT EXISTS (SELECT 1 FROM roots o WHERE o.digest = q.digest)
       AND NOT EXISTS (SELECT 1 FROM refs c
                        WHERE c.digest = q.digest AND +c.kind IN ('config', 'layer', 'child')
                          AND c.manifest_digest NOT IN (SELECT body FROM unreached))
),
-- skipped: the manifests whose blobs may be tagged yet deleted: a body the
-- mark does not descend into (unreached), or the body of an alias, whose
-- own blob the mark may miss. Every other manifest has its blob, config
-- and layers marked.
skipped(body) AS MATERIALIZED (
    SELECT body FROM unreached
    UNION
    SELECT target FROM revisions WHERE digest <> target
),
-- skipped_blobs: their blobs: the body (k = 0), its config and layers.
skipped_blobs(body, blob) AS (
    SELECT s.body, CASE k.k WHEN 0 THEN s.body ELSE x.digest END
      FROM skipped s
     CROSS JOIN (SELECT 0 AS k UNION ALL SELECT 1) k
      LEFT JOIN refs x ON k.k = 1 AND x.manifest_digest = s.body AND x.kind IN ('config', 'layer')
     WHERE (k.k = 0 AND EXISTS (SELECT 1 FROM manifests m WHERE m.digest = s.body))
        OR (k.k = 1 AND x.digest IS NOT NULL)
),
-- asks: the findings that hold if a tag reaches a revision (ask) of a
-- repository: an eligible blob of a skipped manifest, and a queued
-- referrer of a subject.
asks(hazard, repo_id, ask, digest, bytes, what) AS MATERIALIZED (
    SELECT 'tagged-blob-deleted', v.repo_id, v.digest, e.digest, e.size, NULL
      FROM skipped_blobs mb
     CROSS JOIN eligible e ON e.digest = mb.blob
     CROSS JOIN revisions v ON v.target = mb.body
     WHERE EXISTS (SELECT 1 FROM tags t WHERE t.digest = v.digest AND t.repo_id = v.repo_id)
        OR EXISTS (SELECT 1 FROM refs c
                     JOIN revisions p ON p.target = c.manifest_digest AND p.repo_id = v.repo_id
                    WHERE c.digest = v.digest AND c.kind = 'child')
    UNION ALL
    SELECT 'referrer-deleted', q.repo_id, m.subject_digest, q.digest, m.size,
           coalesce(m.artifact_type, m.media_type)
      FROM queued q
     CROSS JOIN manifests m ON m.digest = q.body
     WHERE m.subject_digest IS NOT NULL
),
-- ask_up: from each ask that is a revision, the revisions of its
-- repository whose bodies list it as an index child, recursively; a tag
-- on any of them reaches it (tagged_manifests), via the least such tag.
ask_up(hazard, repo_id, ask, digest, bytes, what, node) AS (
    SELECT a.hazard, a.repo_id, a.ask, a.digest, a.bytes, a.what, a.ask
      FROM asks a
     WHERE EXISTS (SELECT 1 FROM revisions v WHERE v.digest = a.ask AND v.repo_id = a.repo_id)
    UNION
    SELECT u.hazard, u.repo_id, u.ask, u.digest, u.bytes, u.what, p.digest
      FROM ask_up u
     CROSS JOIN refs c ON c.digest = u.node AND c.kind = 'child'
     CROSS JOIN revisions p ON p.target = c.manifest_digest AND p.repo_id = u.repo_id
),
reached(hazard, repo_id, ask, digest, bytes, what, via_tag) AS (
    SELECT u.hazard, u.repo_id, u.ask, u.digest, u.bytes, u.what, min(t.name)
      FROM ask_up u
     CROSS JOIN tags t ON t.digest = u.node AND t.repo_id = u.repo_id
     GROUP BY u.hazard, u.repo_id, u.ask, u.digest, u.bytes, u.what
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
      FROM manifests m
     CROSS JOIN revisions l ON l.target = m.digest
      JOIN repos r ON r.id = l.repo_id AND r.listed = 1
     WHERE m.kind NOT IN ('image', 'index')
       AND EXISTS (SELECT 1 FROM blobs b WHERE b.digest = l.target)
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
    SELECT DISTINCT x.hazard, 'delete-untagged', r.name, x.digest, x.bytes,
           CASE x.hazard
             WHEN 'tagged-blob-deleted' THEN 'used by ' || x.ask || ', which tag ' || x.via_tag || ' reaches; the mark skips it'
             ELSE 'untagged ' || x.what || ' of ' || x.ask || ', which a tag reaches'
           END
      FROM reached x
      JOIN repos r ON r.id = x.repo_id
     WHERE x.hazard = 'referrer-deleted' OR r.listed = 1
    UNION ALL
    SELECT 'no-tags', 'delete-untagged', r.name, l.digest,
           (SELECT coalesce(sum(e.size), 0)
              FROM (SELECT m.digest AS blob FROM manifests m WHERE m.digest = l.target
                    UNION
                    SELECT x.digest FROM refs x WHERE x.manifest_digest = l.target AND x.kind IN ('config', 'layer')) mb
             CROSS JOIN eligible e ON e.digest = mb.blob),
           'the repository has no tags: its manifests lose their blobs and keep their revision links'
      FROM repos r
     CROSS JOIN revisions l ON l.repo_id = r.id
     WHERE r.listed = 1
       AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = r.id)
       AND NOT EXISTS (SELECT 1 FROM tag_history h WHERE h.repo_id = r.id)
       AND EXISTS (SELECT 1 FROM blobs b WHERE b.digest = l.target)
    UNION ALL
    SELECT 'layers-only-blob',
           CASE WHEN EXISTS (SELECT 1 FROM d_unmarked d WHERE d.digest = e.digest) THEN 'always' ELSE 'delete-untagged' END,
           r.name, e.digest, e.size,
           'only ' || r.name || ' links it, which the registry does not list: the link is left dangling'
      FROM repos r
     CROSS JOIN layer_links ll ON ll.repo_id = r.id
     CROSS JOIN eligible e ON e.digest = ll.digest
     WHERE r.listed = 0
    UNION ALL
    SELECT 'non-sha256', 'always', r.name, p.digest, NULL, p.path || ': ' || p.message
      FROM problems p
      LEFT JOIN repos r ON r.id = p.repo_id
     WHERE p.kind = 'non_sha256'
    UNION ALL
    SELECT 'recent-blob',
           CASE WHEN EXISTS (SELECT 1 FROM d_unmarked d WHERE d.digest = e.digest) THEN 'always' ELSE 'delete-untagged' END,
           NULL, e.digest, e.size,
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
