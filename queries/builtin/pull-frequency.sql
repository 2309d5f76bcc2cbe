-- name: pull-frequency
-- description: Pulls per repository and tag or digest over the last :window, busiest first
-- param: window = 30d                how far back to count; accepts 30d, 12h, 2w, or seconds
-- param: repo regex = .*             only repositories whose name matches

-- One row per (repository, reference) pulled in the window: a tag, or a
-- digest for pulls by digest. pulls counts requests (a HEAD to check for a
-- newer image is one). per_day divides by the days of the window the
-- ingested data covers (usage_coverage), not the whole window, so a week of
-- logs gives a true daily rate; covered_days says how many that is. digest
-- is what the latest pull got (NULL when unknown), clients the distinct
-- (hashed) client addresses.
WITH span(from_at) AS (
    SELECT max(:now - :window, coalesce((SELECT covered_from FROM usage_coverage), :now))
)
SELECT p.repo,
       p.reference,
       p.tag IS NOT NULL AS by_tag,
       count(*) AS pulls,
       round(count(*) * 86400.0 / max(:now - s.from_at, 1), 2) AS per_day,
       round((:now - s.from_at) / 86400.0, 1) AS covered_days,
       min(p.pulled_at) AS first_pulled_at,
       max(p.pulled_at) AS last_pulled_at,
       (SELECT q.digest FROM pulls q
         WHERE q.repo = p.repo AND q.reference = p.reference
         ORDER BY q.pulled_at DESC LIMIT 1) AS digest,
       count(DISTINCT p.remote) AS clients
  FROM pulls p
 CROSS JOIN span s
 WHERE p.pulled_at >= :now - :window
   AND p.repo REGEXP :repo
 GROUP BY p.repo, p.reference
 ORDER BY pulls DESC, p.repo, p.reference;
