-- name: repo-usage
-- description: Per repository: tags, manifests, untagged manifests, and bytes in total, unique to it and shared with others
-- kind: report

-- Bytes count each blob once per repository: manifest bodies, configs and
-- layers of every revision (repo_usage view). unique_bytes is what deleting
-- the whole repository and running GC would free; shared_bytes stays for
-- the other repositories. A directory the registry does not list (only
-- _layers or _uploads) shows with listed 0 and no manifests.
SELECT u.name AS repo,
       r.listed,
       u.tags,
       u.revisions AS manifests,
       (SELECT count(*) FROM untagged_revisions ur WHERE ur.repo_id = u.repo_id) AS untagged,
       u.total_bytes,
       u.unique_bytes,
       u.shared_bytes,
       (SELECT max(t.pushed_at) FROM tags t WHERE t.repo_id = u.repo_id) AS last_push
  FROM repo_usage u
  JOIN repos r ON r.id = u.repo_id
 ORDER BY u.total_bytes DESC, u.name;
