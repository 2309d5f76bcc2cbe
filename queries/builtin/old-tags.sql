-- name: old-tags
-- description: Tags pushed more than :older_than ago, keeping the newest :keep per repository and every tag :protect matches
-- param: keep = 10                   newest tags kept per repository, protected ones not counted
-- param: older_than = 90d            age; accepts 30d, 12h, 2w, 1h30m, or seconds
-- param: protect regex = ^(latest|v?[0-9]+\.[0-9]+\.[0-9]+)$   tags never proposed (default: latest and semver releases)
-- param: by_created = 0              1 orders and ages tags by their image's created time instead of push time
-- param: repo regex = .*             only repositories whose name matches
-- kind: candidates

-- A tag is proposed when it is older than :older_than and not among the
-- newest :keep unprotected tags of its repository. A tag whose time is
-- unknown (NULL) counts as newest and is never old. Tags of referrers
-- (manifests with a subject, and cosign's sha256-<hex>.sig/.att/.sbom tags)
-- are never proposed: they go with their subject. bytes is what deleting
-- the row's tags frees after GC when no kept tag still reaches the
-- manifest (directly or through an index), counted on the first row of
-- that manifest; 0 when the manifest stays. Rows sharing blobs do not
-- count them; "regsql run reclaimable --from FILE" gives a list's total.
WITH RECURSIVE
tag_time(repo_id, name, digest, at) AS (
    SELECT t.repo_id, t.name, t.digest,
           CASE WHEN :by_created <> 0 THEN f.created ELSE t.pushed_at END
      FROM repos r
      JOIN tags t ON t.repo_id = r.id
      LEFT JOIN revision_usage f ON f.repo_id = t.repo_id AND f.digest = t.digest
     WHERE r.name REGEXP :repo
       AND NOT t.name REGEXP :protect
       AND NOT (t.name GLOB 'sha256-*' AND t.name REGEXP '^sha256-[0-9a-f]{64}(\.[a-z]+)?$')
       AND f.subject IS NULL
),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY repo_id ORDER BY at DESC NULLS FIRST, name) AS rank
      FROM tag_time
),
candidate(repo_id, name, digest, reason, first) AS MATERIALIZED (
    SELECT repo_id, name, digest,
           printf('%s %s, %d newer tag%s in the repository',
                  CASE WHEN :by_created <> 0 THEN 'created' ELSE 'pushed' END,
                  date(at, 'unixepoch'), rank - 1, CASE WHEN rank = 2 THEN '' ELSE 's' END),
           min(name) OVER (PARTITION BY repo_id, digest)
      FROM ranked
     WHERE rank > :keep AND at < :now - :older_than
),
-- roots: the revisions the candidates name, with how many candidate tags
-- name each and what regsql index worked out for it (revision_usage).
roots(repo_id, digest, target, n, tags, parents, family_size) AS MATERIALIZED (
    SELECT c.repo_id, c.digest, v.target, count(*), f.tags, f.parents, f.family_size
      FROM candidate c
     CROSS JOIN revisions v ON v.repo_id = c.repo_id AND v.digest = c.digest
     CROSS JOIN revision_usage f ON f.repo_id = c.repo_id AND f.digest = c.digest
     GROUP BY c.repo_id, c.digest
),
-- unit: a manifest that loses its last tag, and the children that go with
-- it: those no tag that stays reaches (tag_reach). A root that is an image
-- no index lists loses its last tag when the candidates are all its tags;
-- only a revision whose family is more than itself has children to add.
unit(repo_id, root, digest, target, family_size) AS MATERIALIZED (
    SELECT o.repo_id, o.digest, o.digest, o.target, o.family_size
      FROM roots o
     WHERE CASE WHEN o.parents = 0 AND o.family_size = 1 THEN o.tags = o.n
                ELSE NOT EXISTS (SELECT 1 FROM tag_reach x
                                  WHERE x.repo_id = o.repo_id AND x.digest = o.digest
                                    AND NOT EXISTS (SELECT 1 FROM candidate c WHERE c.repo_id = x.repo_id AND c.name = x.tag))
           END
    UNION
    SELECT u.repo_id, u.root, v.digest, v.target, f.family_size
      FROM unit u
     CROSS JOIN refs c ON c.manifest_digest = u.target AND c.kind = 'child'
     CROSS JOIN revisions v ON v.repo_id = u.repo_id AND v.digest = c.digest
     CROSS JOIN revision_usage f ON f.repo_id = v.repo_id AND f.digest = v.digest
     WHERE u.family_size > 1
       AND NOT EXISTS (SELECT 1 FROM tag_reach x
                        WHERE x.repo_id = v.repo_id AND x.digest = v.digest
                          AND NOT EXISTS (SELECT 1 FROM candidate c WHERE c.repo_id = x.repo_id AND c.name = x.tag))
),
-- sized: whether each unit is its root's whole family (revision_usage),
-- whose bytes regsql index has computed. The others are worked out below
-- (part): those whose children another tag keeps, and those whose root is
-- a unit in another repository too, whose revisions count as inside the
-- unit (so blobs both repositories use count in both rows).
sized(repo_id, root, whole, bytes) AS MATERIALIZED (
    SELECT repo_id, root, n = family_size AND repos = 1, family_bytes
      FROM (SELECT u.repo_id, u.root, count(*) AS n, f.family_size, f.family_bytes,
                   count(*) OVER (PARTITION BY u.root) AS repos
              FROM unit u
             CROSS JOIN revision_usage f ON f.repo_id = u.repo_id AND f.digest = u.root
             GROUP BY u.repo_id, u.root)
),
part(repo_id, root, digest, target) AS MATERIALIZED (
    SELECT u.repo_id, u.root, u.digest, u.target
      FROM sized s
     CROSS JOIN unit u ON u.repo_id = s.repo_id AND u.root = s.root
     WHERE NOT s.whole
),
-- part_blobs: what those units use: bodies (k = 0), their configs, layers
-- and children (k = 1).
part_blobs(repo_id, root, blob) AS (
    SELECT DISTINCT p.repo_id, p.root, CASE k.k WHEN 0 THEN p.target ELSE r.digest END
      FROM part p
     CROSS JOIN (SELECT 0 AS k UNION ALL SELECT 1) k
      LEFT JOIN refs r ON k.k = 1 AND r.manifest_digest = p.target AND r.kind IN ('config', 'layer', 'child')
     WHERE k.k = 0 OR r.digest IS NOT NULL
),
-- freed: the blobs no revision outside the unit uses, in any repository.
freed(repo_id, root, bytes) AS (
    SELECT repo_id, root, bytes FROM sized WHERE whole
    UNION ALL
    SELECT ub.repo_id, ub.root, sum(b.size)
      FROM part_blobs ub
     CROSS JOIN blobs b ON b.digest = ub.blob
     WHERE NOT EXISTS (
             SELECT 1 FROM revisions v
              WHERE v.target = ub.blob
                AND NOT EXISTS (SELECT 1 FROM part u WHERE u.repo_id = v.repo_id AND u.root = ub.root AND u.digest = v.digest))
       AND NOT EXISTS (
             SELECT 1 FROM refs r
               JOIN revisions v ON v.target = r.manifest_digest
              WHERE r.digest = ub.blob AND +r.kind IN ('config', 'layer', 'child')
                AND NOT EXISTS (SELECT 1 FROM part u WHERE u.repo_id = v.repo_id AND u.root = ub.root AND u.digest = v.digest))
     GROUP BY ub.repo_id, ub.root
)
SELECT r.name AS repo,
       c.name AS tag,
       c.digest,
       c.reason,
       CASE WHEN c.name = c.first THEN coalesce(f.bytes, 0) ELSE 0 END AS bytes
  FROM candidate c
  JOIN repos r ON r.id = c.repo_id
  LEFT JOIN freed f ON f.repo_id = c.repo_id AND f.root = c.digest
 ORDER BY r.name, c.name;
