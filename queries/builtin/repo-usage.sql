-- name: repo-usage
-- description: Per repository: tags, manifests, untagged manifests, and bytes in total, unique to it and shared with others
-- kind: report

-- Bytes count each blob once per repository: manifest bodies, configs and
-- layers of every revision. unique_bytes is what deleting the whole
-- repository and running GC would free; shared_bytes stays for the other
-- repositories. A directory the registry does not list (only _layers or
-- _uploads) shows with listed 0 and no manifests. untagged counts the
-- revisions no tag reaches, not even through an index.
--
-- regsql index computes all of it into repo_usage (see docs/schema.md).
SELECT u.name AS repo,
       r.listed,
       u.tags,
       u.revisions AS manifests,
       u.untagged,
       u.total_bytes,
       u.unique_bytes,
       u.shared_bytes,
       u.last_push
  FROM repo_usage u
  JOIN repos r ON r.id = u.repo_id
 ORDER BY u.total_bytes DESC, u.name;
