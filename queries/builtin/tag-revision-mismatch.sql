-- name: tag-revision-mismatch
-- description: Tags naming a digest with no revision in their repository, tags missing from their own history, and history naming digests with no revision
-- kind: report

-- tag_without_revision: pulling the tag fails (manifest unknown), though
-- the blob may exist; --delete-untagged GC does not keep its blobs.
-- tag_without_history: the tag's index/ lacks its current digest; the
-- registry writes both, so something edited the storage by hand.
-- history_without_revision: a digest the tag once named was deleted by
-- digest; harmless, the registry keeps such history.
--
-- Each kind is one merge of two indexes in the same order, which finds the
-- few mismatches without a lookup per tag.
SELECT 'tag_without_revision' AS mismatch, r.name AS repo, t.name AS tag, t.digest, t.pushed_at AS at
  FROM (SELECT digest, repo_id FROM tags
        EXCEPT
        SELECT digest, repo_id FROM revisions
         ORDER BY 1, 2) x
 CROSS JOIN tags t ON t.digest = x.digest AND t.repo_id = x.repo_id
  JOIN repos r ON r.id = t.repo_id
UNION ALL
SELECT 'tag_without_history', r.name, t.name, t.digest, t.pushed_at
  FROM (SELECT repo_id, name, digest FROM tags
        EXCEPT
        SELECT repo_id, tag, digest FROM tag_history
         ORDER BY 1, 2, 3) x
 CROSS JOIN tags t ON t.repo_id = x.repo_id AND t.name = x.name
  JOIN repos r ON r.id = t.repo_id
UNION ALL
SELECT 'history_without_revision', r.name, h.tag, h.digest, h.linked_at
  FROM (SELECT digest, repo_id FROM tag_history
        EXCEPT
        SELECT digest, repo_id FROM revisions
         ORDER BY 1, 2) x
 CROSS JOIN tag_history h ON h.digest = x.digest AND h.repo_id = x.repo_id
  JOIN repos r ON r.id = h.repo_id
 ORDER BY 2, 3, 1, 4;
