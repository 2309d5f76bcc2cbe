-- name: stale-uploads
-- description: Uploads started more than :older_than ago, or with no readable start time, and the bytes they hold
-- param: older_than = 7d             age; the registry's own purge default is 168h (7d)
-- kind: report

-- The registry purges an upload only when its startedat is readable and
-- older than storage.maintenance.uploadpurging.age; one without a readable
-- startedat stays forever, so it is always listed.
SELECT r.name AS repo,
       u.uuid,
       u.started_at,
       u.size,
       CASE WHEN u.started_at IS NULL THEN 'no readable startedat: the registry never purges it'
            ELSE 'started ' || datetime(u.started_at, 'unixepoch') || ' UTC' END AS note
  FROM uploads u
  JOIN repos r ON r.id = u.repo_id
 WHERE u.started_at IS NULL OR u.started_at < :now - :older_than
 ORDER BY u.started_at NULLS FIRST, r.name, u.uuid;
