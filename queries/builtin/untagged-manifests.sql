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
WITH RECURSIVE
-- kept: what a tag reaches, and with keep_referrers the referrers of what
-- is kept (a signature of an SBOM of a tagged image too).
kept(repo_id, digest) AS (
    SELECT repo_id, digest FROM tagged_manifests
    UNION
    SELECT v.repo_id, v.digest
      FROM kept k
      JOIN manifests m ON m.subject_digest = k.digest
      JOIN revisions v ON v.target = m.digest AND v.repo_id = k.repo_id
     WHERE :keep_referrers <> 0
),
candidate(repo_id, digest, target, linked_at) AS (
    SELECT v.repo_id, v.digest, v.target, v.linked_at
      FROM revisions v
      JOIN repos r ON r.id = v.repo_id
     WHERE r.name REGEXP :repo
       AND NOT EXISTS (SELECT 1 FROM kept k WHERE k.repo_id = v.repo_id AND k.digest = v.digest)
       AND NOT EXISTS (SELECT 1 FROM refs c
                         JOIN revisions p ON p.target = c.manifest_digest AND p.repo_id = v.repo_id
                        WHERE c.digest = v.digest AND c.kind = 'child')
       AND (:older_than = 0 OR v.linked_at <= :now - :older_than)
),
-- unit: a candidate and the untagged revisions below it, which go with it.
unit(repo_id, root, digest, target) AS (
    SELECT repo_id, digest, digest, target FROM candidate
    UNION
    SELECT u.repo_id, u.root, v.digest, v.target
      FROM unit u
      JOIN refs c ON c.manifest_digest = u.target AND c.kind = 'child'
      JOIN revisions v ON v.repo_id = u.repo_id AND v.digest = c.digest
     WHERE NOT EXISTS (SELECT 1 FROM tagged_manifests tm WHERE tm.repo_id = v.repo_id AND tm.digest = v.digest)
),
-- unit_blobs: what the unit's revisions use, as repo_blobs counts it.
unit_blobs(repo_id, root, blob) AS (
    SELECT repo_id, root, target FROM unit
    UNION
    SELECT u.repo_id, u.root, r.digest
      FROM unit u
      JOIN refs r ON r.manifest_digest = u.target AND r.kind IN ('config', 'layer', 'child')
),
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
