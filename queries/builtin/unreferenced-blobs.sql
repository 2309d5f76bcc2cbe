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
-- repository when the link at digest's path names a blob that exists.
live(repo_id, digest, body) AS (
    SELECT v.repo_id, v.digest, v.target
      FROM revisions v
      JOIN repos r ON r.id = v.repo_id AND r.listed = 1
      JOIN blobs b ON b.digest = v.target
),
-- roots: what the manifest enumerator yields, the content of each revision
-- link, kept when that digest is itself a live revision.
roots(repo_id, digest, body) AS (
    SELECT DISTINCT v.repo_id, l.digest, l.body
      FROM revisions v
      JOIN live l ON l.repo_id = v.repo_id AND l.digest = v.target
),
reach(repo_id, body, depth) AS (
    SELECT repo_id, body, 0 FROM roots
    UNION
    SELECT reach.repo_id, l.body, reach.depth + 1
      FROM reach
      JOIN refs r ON r.manifest_digest = reach.body AND r.kind IN ('config', 'layer', 'child')
      JOIN live l ON l.repo_id = reach.repo_id AND l.digest = r.digest
     WHERE reach.depth < 8
),
marked(digest) AS (
    SELECT digest FROM roots
    UNION
    SELECT r.digest
      FROM reach
      JOIN refs r ON r.manifest_digest = reach.body AND r.kind IN ('config', 'layer', 'child')
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
  FROM blobs b
 WHERE b.digest NOT IN (SELECT digest FROM marked)
 ORDER BY b.digest;
