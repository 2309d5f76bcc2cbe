-- name: large-rarely-shared-layers
-- description: Layers by size divided by the number of manifests using them: the bytes a cleanup of those manifests actually frees
-- param: limit = 50                  rows to show
-- param: min_size size = 0           only layers at least this big (500MB, 1GiB, or bytes)
-- kind: report

-- A 1 GB layer in one image frees 1 GB when that image goes; a 1 GB base
-- layer under 200 images frees nothing until all 200 go. freed_per_manifest
-- is size / manifests: rank by it to find what is worth deleting. Only
-- manifests that some revision names count; repos counts the repositories
-- whose revisions use the layer.
--
-- The ranking needs only how many manifests use each layer, which the
-- index of refs by digest gives in one pass (most layers are in one
-- manifest); repositories are counted for the rows shown only.
WITH
-- orphan: manifests no revision names (the index writes none: it reads a
-- manifest because a revision names it, and writes its references with
-- it); their layers do not count.
orphan(digest) AS MATERIALIZED (
    SELECT digest FROM manifests
    EXCEPT
    SELECT target FROM revisions
     ORDER BY 1
),
-- users: per layer, the manifests using it: one for a layer in a single
-- reference, else counted.
users(digest, manifests) AS (
    SELECT l.digest,
           CASE WHEN count(*) = 1 AND NOT EXISTS (SELECT 1 FROM orphan) THEN 1
                ELSE (SELECT count(DISTINCT r.manifest_digest) FROM refs r
                       WHERE r.digest = l.digest AND r.kind = 'layer'
                         AND r.manifest_digest NOT IN (SELECT digest FROM orphan)) END
      FROM refs l
     WHERE l.kind = 'layer'
     GROUP BY l.digest
),
ranked AS (
    SELECT b.digest, b.size, u.manifests, b.size / u.manifests AS freed_per_manifest
      FROM users u
     CROSS JOIN blobs b ON b.digest = u.digest
     WHERE b.size >= :min_size AND b.size / u.manifests IS NOT NULL
     ORDER BY freed_per_manifest DESC, b.size DESC, b.digest
     LIMIT :limit
)
SELECT k.digest,
       k.size,
       k.manifests,
       (SELECT count(DISTINCT v.repo_id) FROM refs r JOIN revisions v ON v.target = r.manifest_digest
         WHERE r.digest = k.digest AND r.kind = 'layer') AS repos,
       k.freed_per_manifest,
       (SELECT name FROM repos WHERE id = (
            SELECT min(v.repo_id) FROM refs r JOIN revisions v ON v.target = r.manifest_digest
             WHERE r.digest = k.digest AND r.kind = 'layer')) AS example_repo
  FROM ranked k
 ORDER BY k.freed_per_manifest DESC, k.size DESC, k.digest;
