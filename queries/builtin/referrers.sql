-- name: referrers
-- description: Artifacts with a subject (signatures, SBOMs, attestations), whether they and their subjects are tagged, and whether the subject exists
-- kind: report

-- The registry ignores subject: it serves no referrers API and its GC does
-- not follow subject, so --delete-untagged deletes an untagged signature of
-- a tagged image. subject_tags are the subject's tags in the same
-- repository; subject_kept says a tag reaches the subject there (directly
-- or as an index child); subject_present that it is a revision there.
--
-- subject_kept is whether a tag reaches the subject, as regsql index
-- works it out (revision_usage.tags, tag_reach).
SELECT r.name AS repo,
       f.digest,
       coalesce(m.artifact_type, m.media_type) AS artifact_type,
       f.subject,
       (SELECT group_concat(t.name, ' ' ORDER BY t.name) FROM tags t
         WHERE t.digest = f.digest AND t.repo_id = f.repo_id) AS tags,
       (SELECT group_concat(t.name, ' ' ORDER BY t.name) FROM tags t
         WHERE t.digest = f.subject AND t.repo_id = f.repo_id) AS subject_tags,
       coalesce((SELECT s.tags > 0 FROM revision_usage s
                  WHERE s.repo_id = f.repo_id AND s.digest = f.subject), 0) AS subject_kept,
       EXISTS (SELECT 1 FROM revisions s
                WHERE s.digest = f.subject AND s.repo_id = f.repo_id) AS subject_present,
       v.linked_at
  FROM revision_usage f
 CROSS JOIN revisions v ON v.repo_id = f.repo_id AND v.digest = f.digest
  JOIN manifests m ON m.digest = v.target
  JOIN repos r ON r.id = f.repo_id
 WHERE f.subject IS NOT NULL
 ORDER BY r.name, f.subject, v.linked_at, f.digest;
