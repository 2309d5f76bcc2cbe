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
-- regsql index replays the registry's mark in both modes (see
-- unreferenced-blobs.sql and unreferenced-blobs-untagged.sql) into
-- gc_blobs, gc_revisions and gc_unreached, and what each tag reaches into
-- tag_reach (tagged_manifests): the findings are joins of those.
WITH
-- skipped: the manifests whose blobs may be tagged yet deleted: a body the
-- mark does not descend into (unreached), or the body of an alias, whose
-- own blob the mark may miss. Every other manifest has its blob, config
-- and layers marked.
skipped(body) AS MATERIALIZED (
    SELECT digest FROM gc_unreached WHERE untagged_mode
    UNION
    SELECT target FROM revisions WHERE digest <> target
),
-- tagged_skipped: the revisions a tag reaches whose body is skipped, with
-- the least tag that reaches them.
tagged_skipped(repo_id, digest, body, via_tag) AS MATERIALIZED (
    SELECT v.repo_id, v.digest, v.target,
           (SELECT min(t.tag) FROM tag_reach t WHERE t.repo_id = v.repo_id AND t.digest = v.digest)
      FROM skipped s
     CROSS JOIN revisions v ON v.target = s.body
     WHERE EXISTS (SELECT 1 FROM tag_reach t WHERE t.repo_id = v.repo_id AND t.digest = v.digest)
),
-- findings: a blob of such a revision's body (the body itself, its config
-- and layers) that the mark deletes; an untagged signature, SBOM or
-- attestation the mark deletes whose subject a tag reaches.
findings(hazard, repo_id, ask, digest, bytes, what, via_tag) AS (
    SELECT 'tagged-blob-deleted', x.repo_id, x.digest, e.digest, e.size, NULL, x.via_tag
      FROM tagged_skipped x
     CROSS JOIN gc_blobs e ON e.digest = x.body AND e.swept_untagged
     WHERE EXISTS (SELECT 1 FROM manifests m WHERE m.digest = x.body)
    UNION ALL
    SELECT 'tagged-blob-deleted', x.repo_id, x.digest, e.digest, e.size, NULL, x.via_tag
      FROM tagged_skipped x
     CROSS JOIN refs r ON r.manifest_digest = x.body AND r.kind IN ('config', 'layer')
     CROSS JOIN gc_blobs e ON e.digest = r.digest AND e.swept_untagged
    UNION ALL
    SELECT 'referrer-deleted', q.repo_id, m.subject_digest, q.digest, m.size,
           coalesce(m.artifact_type, m.media_type), NULL
      FROM gc_revisions q
     CROSS JOIN revisions v ON v.repo_id = q.repo_id AND v.digest = q.digest
     CROSS JOIN manifests m ON m.digest = v.target
     WHERE m.subject_digest IS NOT NULL
       AND EXISTS (SELECT 1 FROM tag_reach t WHERE t.repo_id = q.repo_id AND t.digest = m.subject_digest)
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
      FROM findings x
      JOIN repos r ON r.id = x.repo_id
     WHERE x.hazard = 'referrer-deleted' OR r.listed = 1
    UNION ALL
    SELECT 'no-tags', 'delete-untagged', r.name, l.digest,
           (SELECT coalesce(sum(e.size), 0)
              FROM (SELECT m.digest AS blob FROM manifests m WHERE m.digest = l.target
                    UNION
                    SELECT x.digest FROM refs x WHERE x.manifest_digest = l.target AND x.kind IN ('config', 'layer')) mb
             CROSS JOIN gc_blobs e ON e.digest = mb.blob AND e.swept_untagged),
           'the repository has no tags: its manifests lose their blobs and keep their revision links'
      FROM repos r
     CROSS JOIN revisions l ON l.repo_id = r.id
     WHERE r.listed = 1
       AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = r.id)
       AND NOT EXISTS (SELECT 1 FROM tag_history h WHERE h.repo_id = r.id)
       AND EXISTS (SELECT 1 FROM blobs b WHERE b.digest = l.target)
    UNION ALL
    SELECT 'layers-only-blob', CASE WHEN e.swept_default THEN 'always' ELSE 'delete-untagged' END,
           r.name, e.digest, e.size,
           'only ' || r.name || ' links it, which the registry does not list: the link is left dangling'
      FROM repos r
     CROSS JOIN layer_links ll ON ll.repo_id = r.id
     CROSS JOIN gc_blobs e ON e.digest = ll.digest AND e.swept_untagged
     WHERE r.listed = 0
    UNION ALL
    SELECT 'non-sha256', 'always', r.name, p.digest, NULL, p.path || ': ' || p.message
      FROM problems p
      LEFT JOIN repos r ON r.id = p.repo_id
     WHERE p.kind = 'non_sha256'
    UNION ALL
    SELECT 'recent-blob', CASE WHEN e.swept_default THEN 'always' ELSE 'delete-untagged' END,
           NULL, e.digest, e.size,
           'written ' || datetime(e.modified_at, 'unixepoch') || ' UTC and referenced by nothing yet: maybe a push in flight'
      FROM gc_blobs e
     WHERE e.swept_untagged AND e.modified_at >= :now - :recent
    UNION ALL
    SELECT 'upload-in-progress', 'always', r.name, NULL, u.size,
           'upload ' || u.uuid || ' started ' || datetime(u.started_at, 'unixepoch') || ' UTC: the registry is in use'
      FROM uploads u
      JOIN repos r ON r.id = u.repo_id
     WHERE u.started_at >= :now - :recent
)
SELECT * FROM hazards
 ORDER BY hazard, repo, digest;
