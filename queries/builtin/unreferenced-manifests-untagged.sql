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
-- taken to have none. regsql index replays the mark (see
-- unreferenced-blobs-untagged.sql) into gc_revisions. linked_at is when
-- the first link naming the manifest was written.
SELECT r.name AS repo,
       q.digest,
       m.media_type,
       m.artifact_type,
       m.subject_digest,
       m.size,
       (SELECT min(v.linked_at) FROM revisions v WHERE v.target = q.digest AND v.repo_id = q.repo_id) AS linked_at
  FROM gc_revisions q
  JOIN repos r ON r.id = q.repo_id
  JOIN revisions l ON l.repo_id = q.repo_id AND l.digest = q.digest
  LEFT JOIN manifests m ON m.digest = l.target
 ORDER BY r.name, q.digest;
