-- name: tags-matching
-- description: Tags whose name matches :pattern, pushed more than :older_than ago
-- param: pattern regex               tags to propose, e.g. ^dev- or ^pr-[0-9]+$ (Go regular expression)
-- param: older_than duration = 0     only tags pushed at least this long ago (30d, 12h, 2w, or seconds; 0 for all)
-- param: repo regex = .*             only repositories whose name matches
-- kind: candidates

-- Nothing is protected here: the pattern decides. A tag whose push time is
-- unknown (NULL) is proposed only when :older_than is 0. bytes is what
-- deleting the row's tags frees after GC when no kept tag still reaches the
-- manifest, counted on the first row of that manifest (see old-tags).
WITH RECURSIVE
candidate(repo_id, name, digest, reason) AS (
    SELECT t.repo_id, t.name, t.digest,
           'matches ' || :pattern || coalesce(', pushed ' || date(t.pushed_at, 'unixepoch'), '')
      FROM tags t
      JOIN repos r ON r.id = t.repo_id
     WHERE r.name REGEXP :repo
       AND t.name REGEXP :pattern
       AND (:older_than = 0 OR t.pushed_at <= :now - :older_than)
),
-- below: the revisions the candidates name, and the index children below
-- them in the same repository: what might go.
below(repo_id, digest, target) AS (
    SELECT v.repo_id, v.digest, v.target
      FROM candidate c
     CROSS JOIN revisions v ON v.repo_id = c.repo_id AND v.digest = c.digest
    UNION
    SELECT b.repo_id, v.digest, v.target
      FROM below b
     CROSS JOIN refs c ON c.manifest_digest = b.target AND c.kind = 'child'
     CROSS JOIN revisions v ON v.repo_id = b.repo_id AND v.digest = c.digest
),
-- above: each of those, and the revisions of its repository whose bodies
-- list it as an index child, recursively.
above(repo_id, digest, node) AS (
    SELECT repo_id, digest, digest FROM below
    UNION
    SELECT a.repo_id, a.digest, p.digest
      FROM above a
     CROSS JOIN refs c ON c.digest = a.node AND c.kind = 'child'
     CROSS JOIN revisions p ON p.target = c.manifest_digest AND p.repo_id = a.repo_id
),
-- kept: what the tags that stay still reach, directly or through indexes:
-- a revision with a tag that stays above it. Walking up from the few
-- revisions that might go is cheaper than walking down from every tag.
kept(repo_id, digest) AS MATERIALIZED (
    SELECT DISTINCT a.repo_id, a.digest
      FROM above a
     WHERE EXISTS (SELECT 1 FROM tags t
                    WHERE t.digest = a.node AND t.repo_id = a.repo_id
                      AND NOT EXISTS (SELECT 1 FROM candidate c WHERE c.repo_id = t.repo_id AND c.name = t.name))
),
-- unit: a manifest that loses its last tag, and the children that go with it.
unit(repo_id, root, digest, target) AS (
    SELECT DISTINCT v.repo_id, v.digest, v.digest, v.target
      FROM candidate c
     CROSS JOIN revisions v ON v.repo_id = c.repo_id AND v.digest = c.digest
     WHERE NOT EXISTS (SELECT 1 FROM kept k WHERE k.repo_id = v.repo_id AND k.digest = v.digest)
    UNION
    SELECT u.repo_id, u.root, v.digest, v.target
      FROM unit u
     CROSS JOIN refs c ON c.manifest_digest = u.target AND c.kind = 'child'
     CROSS JOIN revisions v ON v.repo_id = u.repo_id AND v.digest = c.digest
     WHERE NOT EXISTS (SELECT 1 FROM kept k WHERE k.repo_id = v.repo_id AND k.digest = v.digest)
),
unit_blobs(repo_id, root, blob) AS (
    SELECT repo_id, root, target FROM unit
    UNION
    SELECT u.repo_id, u.root, r.digest
      FROM unit u
     CROSS JOIN refs r ON r.manifest_digest = u.target AND r.kind IN ('config', 'layer', 'child')
),
-- freed: the blobs no revision outside the unit uses, in any repository.
freed(repo_id, root, bytes) AS (
    SELECT ub.repo_id, ub.root, sum(b.size)
      FROM unit_blobs ub
     CROSS JOIN blobs b ON b.digest = ub.blob
     WHERE NOT EXISTS (
             SELECT 1 FROM revisions v
              WHERE v.target = ub.blob
                AND NOT EXISTS (SELECT 1 FROM unit u WHERE u.repo_id = v.repo_id AND u.root = ub.root AND u.digest = v.digest))
       AND NOT EXISTS (
             SELECT 1 FROM refs r
               JOIN revisions v ON v.target = r.manifest_digest
              WHERE r.digest = ub.blob AND +r.kind IN ('config', 'layer', 'child')
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
