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
WITH users AS (
    SELECT r.digest,
           count(DISTINCT r.manifest_digest) AS manifests,
           count(DISTINCT v.repo_id) AS repos,
           min(v.repo_id) AS some_repo
      FROM refs r
      JOIN revisions v ON v.target = r.manifest_digest
     WHERE r.kind = 'layer'
     GROUP BY r.digest
)
SELECT b.digest,
       b.size,
       u.manifests,
       u.repos,
       b.size / u.manifests AS freed_per_manifest,
       (SELECT name FROM repos WHERE id = u.some_repo) AS example_repo
  FROM users u
  JOIN blobs b ON b.digest = u.digest
 WHERE b.size >= :min_size
 ORDER BY freed_per_manifest DESC, b.size DESC, b.digest
 LIMIT :limit;
