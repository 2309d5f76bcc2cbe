-- name: untagged-manifests
-- description: Manifest revisions no tag of their repository reaches, not even as an index child; by default keeping signatures and SBOMs of tagged images
-- param: keep_referrers = 1          1 leaves out referrers (signatures, SBOMs, attestations) of manifests a tag reaches; 0 lists them
-- param: older_than duration = 0     only revisions last pushed at least this long ago (30d, 12h, 2w, or seconds; 0 for all)
-- param: repo regex = .*             only repositories whose name matches
-- kind: candidates

-- One row per untagged revision. A child of an index in the same
-- repository is left out: its index stands for it (deleting an index
-- deletes the children nothing else keeps). bytes is what deleting the row
-- alone would free after GC: the blobs of the manifest and its untagged
-- children that no other revision in any repository uses. Two rows sharing
-- a layer both leave it out; "regsql run reclaimable --from FILE" gives
-- the exact total of a list.
-- What each tag reaches, and each revision's family and what it alone
-- uses, regsql index computes (tag_reach, revision_usage).
WITH RECURSIVE
-- chain: with keep_referrers, from each referrer no tag reaches and no
-- index lists, the subject it refers to, and so on: a tag that reaches
-- any of those (revision_usage.tags) keeps it.
chain(repo_id, start, node) AS (
    SELECT repo_id, digest, subject
      FROM revision_usage
     WHERE tags = 0 AND parents = 0 AND subject IS NOT NULL AND :keep_referrers <> 0
    UNION
    SELECT c.repo_id, c.start, s.subject
      FROM chain c
     CROSS JOIN revision_usage s ON s.repo_id = c.repo_id AND s.digest = c.node
     WHERE s.subject IS NOT NULL
),
kept(repo_id, digest) AS MATERIALIZED (
    SELECT DISTINCT c.repo_id, c.start
      FROM chain c
     CROSS JOIN revision_usage s ON s.repo_id = c.repo_id AND s.digest = c.node
     WHERE s.tags > 0
),
-- candidate: revisions no tag reaches (so none names them) and no index of
-- their repository lists, that nothing keeps.
candidate(repo_id, digest, target, linked_at, family_size) AS MATERIALIZED (
    SELECT v.repo_id, v.digest, v.target, v.linked_at, f.family_size
      FROM revision_usage f
     CROSS JOIN revisions v ON v.repo_id = f.repo_id AND v.digest = f.digest
      JOIN repos r ON r.id = f.repo_id
     WHERE f.tags = 0 AND f.parents = 0
       AND r.name REGEXP :repo
       AND NOT EXISTS (SELECT 1 FROM kept k WHERE k.repo_id = f.repo_id AND k.digest = f.digest)
       AND (:older_than = 0 OR v.linked_at <= :now - :older_than)
),
-- unit: a candidate and the untagged revisions below it, which go with it.
unit(repo_id, root, digest, target, family_size) AS MATERIALIZED (
    SELECT repo_id, digest, digest, target, family_size FROM candidate
    UNION
    SELECT u.repo_id, u.root, v.digest, v.target, f.family_size
      FROM unit u
     CROSS JOIN refs c ON c.manifest_digest = u.target AND c.kind = 'child'
     CROSS JOIN revisions v ON v.repo_id = u.repo_id AND v.digest = c.digest
     CROSS JOIN revision_usage f ON f.repo_id = v.repo_id AND f.digest = v.digest
     WHERE u.family_size > 1 AND f.tags = 0
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
       NULL AS tag,
       c.digest,
       CASE
         WHEN m.subject_digest IS NOT NULL
           THEN 'untagged referrer (' || coalesce(m.artifact_type, m.media_type) || ') of ' || m.subject_digest
         WHEN m.kind IS NULL THEN 'untagged revision whose manifest blob is missing'
         WHEN m.kind = 'index' THEN 'untagged index of ' || (SELECT count(*) FROM refs x WHERE x.manifest_digest = m.digest AND x.kind = 'child') || ' manifests'
         ELSE 'untagged ' || m.kind
       END || coalesce(', last pushed ' || date(c.linked_at, 'unixepoch'), '') AS reason,
       coalesce(f.bytes, 0) AS bytes
  FROM candidate c
  JOIN repos r ON r.id = c.repo_id
  LEFT JOIN manifests m ON m.digest = c.target
  LEFT JOIN freed f ON f.repo_id = c.repo_id AND f.root = c.digest
 ORDER BY r.name, c.linked_at, c.digest;
