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
-- Whether a revision is kept is found by walking up from the few
-- revisions no tag names, rather than down from every tag.
WITH RECURSIVE
-- untagged: revisions no tag of their repository names, in one merge of
-- the two indexes.
untagged(digest, repo_id) AS MATERIALIZED (
    SELECT digest, repo_id FROM revisions
    EXCEPT
    SELECT digest, repo_id FROM tags
     ORDER BY 1, 2
),
-- parented: revisions some index of their repository lists as a child.
parented(repo_id, digest) AS MATERIALIZED (
    SELECT DISTINCT p.repo_id, c.digest
      FROM refs c
     CROSS JOIN revisions p ON p.target = c.manifest_digest
     WHERE c.kind = 'child'
),
-- referrer: with keep_referrers, the revisions whose manifest has a
-- subject.
referrer(repo_id, digest, subject) AS MATERIALIZED (
    SELECT v.repo_id, v.digest, m.subject_digest
      FROM manifests m
     CROSS JOIN revisions v ON v.target = m.digest
     WHERE m.subject_digest IS NOT NULL AND :keep_referrers <> 0
),
-- up: from each untagged referrer, what would keep it: the subject it
-- refers to, and so on (phase 0), then the indexes of the repository that
-- list it as a child (phase 1). An untagged revision that is no referrer
-- is kept only through an index that lists it, and is then no candidate.
up(repo_id, start, node, phase) AS (
    SELECT u.repo_id, u.digest, u.digest, 0
      FROM untagged u
     CROSS JOIN referrer f ON f.repo_id = u.repo_id AND f.digest = u.digest
    UNION
    SELECT up.repo_id, up.start, s.digest, 0
      FROM up
     CROSS JOIN referrer f ON f.repo_id = up.repo_id AND f.digest = up.node
     CROSS JOIN revisions s ON s.repo_id = up.repo_id AND s.digest = f.subject
     WHERE up.phase = 0
    UNION
    SELECT up.repo_id, up.start, p.digest, 1
      FROM up
     CROSS JOIN refs c ON c.digest = up.node AND c.kind = 'child'
     CROSS JOIN revisions p ON p.target = c.manifest_digest AND p.repo_id = up.repo_id
),
-- candidate: untagged revisions that no index of their repository lists
-- and that nothing keeps (with keep_referrers, a kept subject).
candidate(repo_id, digest, target, linked_at) AS MATERIALIZED (
    SELECT v.repo_id, v.digest, v.target, v.linked_at
      FROM repos r
      JOIN untagged u ON u.repo_id = r.id
     CROSS JOIN revisions v ON v.repo_id = u.repo_id AND v.digest = u.digest
     WHERE r.name REGEXP :repo
       AND NOT EXISTS (SELECT 1 FROM parented p WHERE p.repo_id = u.repo_id AND p.digest = u.digest)
       AND NOT EXISTS (SELECT 1 FROM up
                        WHERE up.repo_id = u.repo_id AND up.start = u.digest AND up.node <> u.digest
                          AND EXISTS (SELECT 1 FROM tags t WHERE t.digest = up.node AND t.repo_id = up.repo_id))
       AND (:older_than = 0 OR v.linked_at <= :now - :older_than)
),
-- below: the revisions under the candidates, through index children in
-- the same repository; tagged: those a tag reaches from above.
below(repo_id, digest, target) AS (
    SELECT repo_id, digest, target FROM candidate
    UNION
    SELECT b.repo_id, v.digest, v.target
      FROM below b
     CROSS JOIN refs c ON c.manifest_digest = b.target AND c.kind = 'child'
     CROSS JOIN revisions v ON v.repo_id = b.repo_id AND v.digest = c.digest
),
above(repo_id, digest, node) AS (
    SELECT repo_id, digest, digest FROM below
    UNION
    SELECT a.repo_id, a.digest, p.digest
      FROM above a
     CROSS JOIN refs c ON c.digest = a.node AND c.kind = 'child'
     CROSS JOIN revisions p ON p.target = c.manifest_digest AND p.repo_id = a.repo_id
),
tagged(repo_id, digest) AS MATERIALIZED (
    SELECT DISTINCT a.repo_id, a.digest
      FROM above a
     WHERE EXISTS (SELECT 1 FROM tags t WHERE t.digest = a.node AND t.repo_id = a.repo_id)
),
-- unit: a candidate and the untagged revisions below it, which go with it.
unit(repo_id, root, digest, target) AS (
    SELECT repo_id, digest, digest, target FROM candidate
    UNION
    SELECT u.repo_id, u.root, v.digest, v.target
      FROM unit u
     CROSS JOIN refs c ON c.manifest_digest = u.target AND c.kind = 'child'
     CROSS JOIN revisions v ON v.repo_id = u.repo_id AND v.digest = c.digest
     WHERE NOT EXISTS (SELECT 1 FROM tagged tm WHERE tm.repo_id = v.repo_id AND tm.digest = v.digest)
),
-- unit_blobs: what the unit's revisions use, as repo_blobs counts it.
unit_blobs(repo_id, root, blob) AS (
    SELECT repo_id, root, target FROM unit
    UNION
    SELECT u.repo_id, u.root, r.digest
      FROM unit u
     CROSS JOIN refs r ON r.manifest_digest = u.target AND r.kind IN ('config', 'layer', 'child')
),
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
