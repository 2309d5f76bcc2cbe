-- name: not-pulled-since
-- description: Tags nobody has pulled for :older_than, once the ingested logs or notifications cover that long
-- param: older_than = 90d            no pull seen for this long; accepts 30d, 12h, 2w, 1h30m, or seconds
-- param: protect regex = ^latest$    tags never proposed
-- param: repo regex = .*             only repositories whose name matches
-- param: unknown_is_old = 0          1 also proposes tags that show no pull when the data does not cover :older_than
-- kind: candidates

-- Pull data starts when ingestion starts (docs/usage.md): a tag no ingested
-- log or notification shows pulled is unknown, not never pulled. So a tag
-- with no pull is proposed only when the data covers the whole window
-- (usage_coverage.covered_from at or before :now - :older_than), or with
-- unknown_is_old = 1. A tag counts as pulled when it was pulled by name, or
-- a manifest it reaches was pulled by digest or had its config downloaded
-- (tag_pulls). A tag pushed within the window, or whose push time is
-- unknown, is recent. Tags of referrers (manifests with a subject, and
-- cosign's sha256-<hex>.sig/.att/.sbom tags) go with their subject and are
-- never proposed. bytes is as in old-tags: what deleting the row's tags
-- frees after GC when no kept tag still reaches the manifest, counted on the
-- first row of that manifest.
WITH RECURSIVE
coverage(from_at) AS (
    SELECT covered_from FROM usage_coverage
),
candidate(repo_id, name, digest, reason) AS (
    SELECT t.repo_id, t.name, t.digest,
           CASE WHEN p.last_pulled_at IS NOT NULL
                THEN 'last pulled ' || date(p.last_pulled_at, 'unixepoch')
                WHEN c.from_at <= :now - :older_than
                THEN 'no pull seen since ' || date(c.from_at, 'unixepoch')
                ELSE 'no pull seen; pull data starts ' || coalesce(date(c.from_at, 'unixepoch'), 'nowhere (nothing ingested)')
           END || ', pushed ' || date(t.pushed_at, 'unixepoch')
      FROM tags t
      JOIN repos r ON r.id = t.repo_id
      JOIN tag_pulls p ON p.repo_id = t.repo_id AND p.tag = t.name
      CROSS JOIN coverage c
      LEFT JOIN revisions v ON v.repo_id = t.repo_id AND v.digest = t.digest
      LEFT JOIN manifests m ON m.digest = v.target
     WHERE r.name REGEXP :repo
       AND NOT t.name REGEXP :protect
       AND NOT t.name REGEXP '^sha256-[0-9a-f]{64}(\.[a-z]+)?$'
       AND m.subject_digest IS NULL
       AND t.pushed_at < :now - :older_than
       AND (p.last_pulled_at < :now - :older_than
            OR (p.last_pulled_at IS NULL AND (c.from_at <= :now - :older_than OR :unknown_is_old <> 0)))
),
-- keep_reach: what the tags that stay still reach, through index children.
keep_reach(repo_id, digest, target) AS (
    SELECT t.repo_id, v.digest, v.target
      FROM tags t
      JOIN revisions v ON v.repo_id = t.repo_id AND v.digest = t.digest
     WHERE NOT EXISTS (SELECT 1 FROM candidate c WHERE c.repo_id = t.repo_id AND c.name = t.name)
    UNION
    SELECT k.repo_id, v.digest, v.target
      FROM keep_reach k
      JOIN refs c ON c.manifest_digest = k.target AND c.kind = 'child'
      JOIN revisions v ON v.repo_id = k.repo_id AND v.digest = c.digest
),
-- unit: a manifest that loses its last tag, and the children that go with it.
unit(repo_id, root, digest, target) AS (
    SELECT DISTINCT v.repo_id, v.digest, v.digest, v.target
      FROM candidate c
      JOIN revisions v ON v.repo_id = c.repo_id AND v.digest = c.digest
     WHERE NOT EXISTS (SELECT 1 FROM keep_reach k WHERE k.repo_id = v.repo_id AND k.digest = v.digest)
    UNION
    SELECT u.repo_id, u.root, v.digest, v.target
      FROM unit u
      JOIN refs c ON c.manifest_digest = u.target AND c.kind = 'child'
      JOIN revisions v ON v.repo_id = u.repo_id AND v.digest = c.digest
     WHERE NOT EXISTS (SELECT 1 FROM keep_reach k WHERE k.repo_id = v.repo_id AND k.digest = v.digest)
),
unit_blobs(repo_id, root, blob) AS (
    SELECT repo_id, root, target FROM unit
    UNION
    SELECT u.repo_id, u.root, r.digest
      FROM unit u
      JOIN refs r ON r.manifest_digest = u.target AND r.kind IN ('config', 'layer', 'child')
),
-- freed: the blobs no revision outside the unit uses, in any repository.
freed(repo_id, root, bytes) AS (
    SELECT ub.repo_id, ub.root, sum(b.size)
      FROM unit_blobs ub
      JOIN blobs b ON b.digest = ub.blob
     WHERE NOT EXISTS (
             SELECT 1 FROM revisions v
              WHERE v.target = ub.blob
                AND NOT EXISTS (SELECT 1 FROM unit u WHERE u.repo_id = v.repo_id AND u.root = ub.root AND u.digest = v.digest))
       AND NOT EXISTS (
             SELECT 1 FROM refs r
               JOIN revisions v ON v.target = r.manifest_digest
              WHERE r.digest = ub.blob AND r.kind IN ('config', 'layer', 'child')
                AND NOT EXISTS (SELECT 1 FROM unit u WHERE u.repo_id = v.repo_id AND u.root = ub.root AND u.digest = v.digest))
     GROUP BY ub.repo_id, ub.root
)
SELECT r.name AS repo,
       c.name AS tag,
       c.digest,
       c.reason,
       CASE WHEN c.name = (SELECT min(c2.name) FROM candidate c2 WHERE c2.repo_id = c.repo_id AND c2.digest = c.digest)
            THEN coalesce(f.bytes, 0) ELSE 0 END AS bytes
  FROM candidate c
  JOIN repos r ON r.id = c.repo_id
  LEFT JOIN freed f ON f.repo_id = c.repo_id AND f.root = c.digest
 ORDER BY r.name, c.name;
