-- name: tag-revision-mismatch
-- description: Tags naming a digest with no revision in their repository, tags missing from their own history, and history naming digests with no revision
-- kind: report

-- tag_without_revision: pulling the tag fails (manifest unknown), though
-- the blob may exist; --delete-untagged GC does not keep its blobs.
-- tag_without_history: the tag's index/ lacks its current digest; the
-- registry writes both, so something edited the storage by hand.
-- history_without_revision: a digest the tag once named was deleted by
-- digest; harmless, the registry keeps such history.
SELECT 'tag_without_revision' AS mismatch, r.name AS repo, t.name AS tag, t.digest, t.pushed_at AS at
  FROM tags t
  JOIN repos r ON r.id = t.repo_id
 WHERE NOT EXISTS (SELECT 1 FROM revisions v WHERE v.repo_id = t.repo_id AND v.digest = t.digest)
UNION ALL
SELECT 'tag_without_history', r.name, t.name, t.digest, t.pushed_at
  FROM tags t
  JOIN repos r ON r.id = t.repo_id
 WHERE NOT EXISTS (SELECT 1 FROM tag_history h
                    WHERE h.repo_id = t.repo_id AND h.tag = t.name AND h.digest = t.digest)
UNION ALL
SELECT 'history_without_revision', r.name, h.tag, h.digest, h.linked_at
  FROM tag_history h
  JOIN repos r ON r.id = h.repo_id
 WHERE NOT EXISTS (SELECT 1 FROM revisions v WHERE v.repo_id = h.repo_id AND v.digest = h.digest)
 ORDER BY 2, 3, 1, 4;
