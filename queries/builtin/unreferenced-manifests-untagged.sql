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
-- queued: untagged live revisions of repositories with tags, that the
-- content of some revision link names, in one merge of the indexes of
-- revisions and tags.
queued(repo_id, digest, body) AS (
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
)
SELECT r.name AS repo,
       q.digest,
       m.media_type,
       m.artifact_type,
       m.subject_digest,
       m.size,
       (SELECT min(v.linked_at) FROM revisions v WHERE v.target = q.digest AND v.repo_id = q.repo_id) AS linked_at
  FROM queued q
  JOIN repos r ON r.id = q.repo_id
  LEFT JOIN manifests m ON m.digest = q.body
 WHERE NOT EXISTS (SELECT 1 FROM roots o WHERE o.digest = q.digest)
   AND NOT EXISTS (SELECT 1 FROM refs c
                    WHERE c.digest = q.digest AND +c.kind IN ('config', 'layer', 'child')
                      AND c.manifest_digest NOT IN (SELECT body FROM unreached))
 ORDER BY r.name, q.digest;
