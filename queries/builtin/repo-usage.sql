-- name: repo-usage
-- description: Per repository: tags, manifests, untagged manifests, and bytes in total, unique to it and shared with others
-- kind: report

-- Bytes count each blob once per repository: manifest bodies, configs and
-- layers of every revision (repo_usage view). unique_bytes is what deleting
-- the whole repository and running GC would free; shared_bytes stays for
-- the other repositories. A directory the registry does not list (only
-- _layers or _uploads) shows with listed 0 and no manifests.
--
-- untagged counts the revisions no tag reaches (untagged_revisions):
-- those no tag names, less those an index that a tag reaches lists, found
-- by walking up from the few that an index lists.
WITH RECURSIVE
untagged(digest, repo_id) AS MATERIALIZED (
    SELECT digest, repo_id FROM revisions
    EXCEPT
    SELECT digest, repo_id FROM tags
     ORDER BY 1, 2
),
parented(repo_id, digest) AS MATERIALIZED (
    SELECT DISTINCT p.repo_id, c.digest
      FROM refs c
     CROSS JOIN revisions p ON p.target = c.manifest_digest
     WHERE c.kind = 'child'
),
up(repo_id, start, node) AS (
    SELECT u.repo_id, u.digest, u.digest
      FROM untagged u
     WHERE EXISTS (SELECT 1 FROM parented p WHERE p.repo_id = u.repo_id AND p.digest = u.digest)
    UNION
    SELECT up.repo_id, up.start, p.digest
      FROM up
     CROSS JOIN refs c ON c.digest = up.node AND c.kind = 'child'
     CROSS JOIN revisions p ON p.target = c.manifest_digest AND p.repo_id = up.repo_id
),
untagged_count(repo_id, n) AS (
    SELECT u.repo_id, count(*)
      FROM untagged u
     WHERE NOT EXISTS (SELECT 1 FROM up
                        WHERE up.repo_id = u.repo_id AND up.start = u.digest
                          AND EXISTS (SELECT 1 FROM tags t WHERE t.digest = up.node AND t.repo_id = up.repo_id))
     GROUP BY u.repo_id
)
SELECT u.name AS repo,
       r.listed,
       u.tags,
       u.revisions AS manifests,
       coalesce(c.n, 0) AS untagged,
       u.total_bytes,
       u.unique_bytes,
       u.shared_bytes,
       (SELECT max(t.pushed_at) FROM tags t WHERE t.repo_id = u.repo_id) AS last_push
  FROM repo_usage u
  JOIN repos r ON r.id = u.repo_id
  LEFT JOIN untagged_count c ON c.repo_id = u.repo_id
 ORDER BY u.total_bytes DESC, u.name;
