-- name: referrers
-- description: Artifacts with a subject (signatures, SBOMs, attestations), whether they and their subjects are tagged, and whether the subject exists
-- kind: report

-- The registry ignores subject: it serves no referrers API and its GC does
-- not follow subject, so --delete-untagged deletes an untagged signature of
-- a tagged image. subject_tags are the subject's tags in the same
-- repository; subject_kept says a tag reaches the subject there (directly
-- or as an index child); subject_present that it is a revision there.
--
-- subject_kept walks up from the subject, through the indexes in the same
-- repository that list it, to a tag: the few referrers cost a few lookups
-- each, where tagged_manifests would walk down from every tag.
WITH RECURSIVE
referrer(repo_id, digest, linked_at, target, artifact_type, subject) AS MATERIALIZED (
    SELECT v.repo_id, v.digest, v.linked_at, m.digest, coalesce(m.artifact_type, m.media_type), m.subject_digest
      FROM manifests m
     CROSS JOIN revisions v ON v.target = m.digest
     WHERE m.subject_digest IS NOT NULL
),
-- up: the subject, if it is a revision of the referrer's repository, and
-- every revision there whose body lists one of these as an index child.
up(repo_id, subject, digest) AS (
    SELECT f.repo_id, f.subject, s.digest
      FROM (SELECT DISTINCT repo_id, subject FROM referrer) f
     CROSS JOIN revisions s ON s.repo_id = f.repo_id AND s.digest = f.subject
    UNION
    SELECT up.repo_id, up.subject, p.digest
      FROM up
     CROSS JOIN refs c ON c.digest = up.digest AND c.kind = 'child'
     CROSS JOIN revisions p ON p.target = c.manifest_digest AND p.repo_id = up.repo_id
),
kept(repo_id, subject) AS MATERIALIZED (
    SELECT DISTINCT up.repo_id, up.subject
      FROM up
     WHERE EXISTS (SELECT 1 FROM tags t WHERE t.digest = up.digest AND t.repo_id = up.repo_id)
)
SELECT r.name AS repo,
       f.digest,
       f.artifact_type,
       f.subject,
       (SELECT group_concat(t.name, ' ' ORDER BY t.name) FROM tags t
         WHERE t.digest = f.digest AND t.repo_id = f.repo_id) AS tags,
       (SELECT group_concat(t.name, ' ' ORDER BY t.name) FROM tags t
         WHERE t.digest = f.subject AND t.repo_id = f.repo_id) AS subject_tags,
       EXISTS (SELECT 1 FROM kept k WHERE k.repo_id = f.repo_id AND k.subject = f.subject) AS subject_kept,
       EXISTS (SELECT 1 FROM revisions s
                WHERE s.digest = f.subject AND s.repo_id = f.repo_id) AS subject_present,
       f.linked_at
  FROM referrer f
  JOIN repos r ON r.id = f.repo_id
 ORDER BY r.name, f.subject, f.linked_at, f.digest;
