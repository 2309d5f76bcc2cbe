-- name: unreferenced-blobs
-- description: Blobs "registry garbage-collect" deletes (without --delete-untagged): in no manifest any revision of a listed repository names
-- kind: report

-- The registry's mark phase, exactly (registry/storage/garbagecollect.go):
-- every revision link of every repository the catalog lists is a root when
-- the link's blob exists; a root marks its own digest and every descriptor
-- its body holds (config and layers, or an index's children), and descends
-- into a descriptor that is itself a readable revision of the same
-- repository. subject is never followed. Every blob under blobs/ that is
-- not marked is deleted, also blobs that only _layers links of a directory
-- without _manifests name (see gc-hazards). reports_test.go checks the
-- result against the registry's own MarkAndSweep.
WITH RECURSIVE
-- live: revisions the registry can read. Exists(digest) is true in the
-- repository when the link at digest's path names a blob that exists. A
-- root is the content of a revision link, kept when that digest is itself
-- a live revision of the repository; it marks its digest and descends into
-- its body. Nearly every manifest body is a root's, so the mark is
-- computed the other way round: unreached is the (usually empty) set of
-- bodies that no root reaches, and a blob is marked unless every manifest
-- that references it is unreached.
--
-- u0: manifests that are no root's body, merged in digest order (every
-- manifest with references is in manifests).
u0(body) AS MATERIALIZED (
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
-- up: from a body of u0, the bodies in the same repository that would
-- reach it through references to live revisions, at most 8 levels up (the
-- depth the walk down stops at).
up(origin, repo_id, body, dist) AS (
    SELECT u.body, l.repo_id, u.body, 0
      FROM u0 u
     CROSS JOIN revisions l ON l.target = u.body
      JOIN repos r ON r.id = l.repo_id AND r.listed = 1
    UNION
    SELECT up.origin, up.repo_id, p.manifest_digest, up.dist + 1
      FROM up
      JOIN revisions l ON l.target = up.body AND l.repo_id = up.repo_id
      JOIN refs p ON p.digest = l.digest AND p.kind IN ('config', 'layer', 'child')
     WHERE up.dist < 8 AND EXISTS (SELECT 1 FROM blobs b WHERE b.digest = up.body)
),
-- unreached: bodies of u0 with no root above them in any repository.
unreached(body) AS MATERIALIZED (
    SELECT body FROM u0
    EXCEPT
    SELECT up.origin
      FROM up
     CROSS JOIN revisions l ON l.target = up.body AND l.repo_id = up.repo_id
     WHERE EXISTS (SELECT 1 FROM blobs b WHERE b.digest = l.target)
       AND EXISTS (SELECT 1 FROM revisions v WHERE v.target = l.digest AND v.repo_id = l.repo_id)
),
-- unmarked: blobs no reached manifest references and no root is, merged
-- in digest order: those no manifest references, and those only unreached
-- ones do, less the roots' own digests.
unmarked(digest) AS (
    SELECT digest FROM blobs
    EXCEPT
    SELECT digest FROM refs WHERE kind IN ('config', 'layer', 'child')
    UNION
    SELECT r.digest
      FROM unreached u
     CROSS JOIN refs r ON r.manifest_digest = u.body AND r.kind IN ('config', 'layer', 'child')
     WHERE EXISTS (SELECT 1 FROM blobs b WHERE b.digest = r.digest)
       AND NOT EXISTS (SELECT 1 FROM refs o
                        WHERE o.digest = r.digest AND o.kind IN ('config', 'layer', 'child')
                          AND o.manifest_digest NOT IN (SELECT body FROM unreached))
    EXCEPT
    SELECT l.digest
      FROM revisions l
      JOIN repos r ON r.id = l.repo_id AND r.listed = 1
     WHERE EXISTS (SELECT 1 FROM blobs b WHERE b.digest = l.target)
       AND (l.digest = l.target
            OR EXISTS (SELECT 1 FROM revisions v WHERE v.target = l.digest AND v.repo_id = l.repo_id))
     ORDER BY 1
)
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
  FROM unmarked u
 CROSS JOIN blobs b ON b.digest = u.digest
 ORDER BY u.digest;
