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
-- below the roots that have index children (or are one), with a key that
-- sorts in the order the registry makes them; met flags the meetings
-- where it descends (a digest's first meeting), and marks drops those
-- below a meeting where it does not. A manifest that no root's body is
-- and that the walk does not descend into is unreached; the mark marks
-- every reference of every other manifest, so a blob is marked when it
-- is a root or some reached manifest references it. The set differences
-- are merges of indexes in digest order (see docs/performance.md).
-- unreferenced-manifests-untagged and gc-hazards hold the same block
-- between the begin and end lines (a test keeps the copies equal);
-- reports_test.go checks the results against the registry's own
-- MarkAndSweep.
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
-- unmarked: blobs neither a root nor referenced by a manifest the mark
-- reaches, merged in digest order.
unmarked(digest) AS (
    SELECT digest FROM blobs
    EXCEPT
    SELECT digest FROM refs
     WHERE kind IN ('config', 'layer', 'child')
       AND manifest_digest NOT IN (SELECT body FROM unreached)
    EXCEPT
    SELECT digest FROM roots
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
