-- name: referrers
-- description: Artifacts with a subject (signatures, SBOMs, attestations), whether they and their subjects are tagged, and whether the subject exists
-- kind: report

-- The registry ignores subject: it serves no referrers API and its GC does
-- not follow subject, so --delete-untagged deletes an untagged signature of
-- a tagged image. subject_tags are the subject's tags in the same
-- repository; subject_kept says a tag reaches the subject there (directly
-- or as an index child); subject_present that it is a revision there.
SELECT r.name AS repo,
       v.digest,
       coalesce(m.artifact_type, m.media_type) AS artifact_type,
       m.subject_digest AS subject,
       (SELECT group_concat(t.name, ' ') FROM (SELECT name FROM tags t
         WHERE t.repo_id = v.repo_id AND t.digest = v.digest ORDER BY name) t) AS tags,
       (SELECT group_concat(t.name, ' ') FROM (SELECT name FROM tags t
         WHERE t.repo_id = v.repo_id AND t.digest = m.subject_digest ORDER BY name) t) AS subject_tags,
       EXISTS (SELECT 1 FROM tagged_manifests tm
                WHERE tm.repo_id = v.repo_id AND tm.digest = m.subject_digest) AS subject_kept,
       EXISTS (SELECT 1 FROM revisions s
                WHERE s.repo_id = v.repo_id AND s.digest = m.subject_digest) AS subject_present,
       v.linked_at
  FROM revisions v
  JOIN manifests m ON m.digest = v.target
  JOIN repos r ON r.id = v.repo_id
 WHERE m.subject_digest IS NOT NULL
 ORDER BY r.name, m.subject_digest, v.linked_at, v.digest;
