-- name: dangling-links
-- description: Links naming a blob that does not exist: tags, tag history, manifest revisions and layer links
-- kind: report

-- A dangling tag or revision fails pulls; a dangling layer link is what the
-- registry's GC leaves behind when it deletes a blob that only a directory
-- without _manifests linked. The link's own time is when it was written.
--
-- dangling: the digests links name that are not blobs, found in one merge
-- of the links' and the blobs' digest indexes rather than a lookup per link.
WITH dangling(digest) AS MATERIALIZED (
    SELECT digest FROM tags
    UNION ALL
    SELECT digest FROM tag_history
    UNION ALL
    SELECT target FROM revisions
    UNION ALL
    SELECT digest FROM layer_links
    EXCEPT
    SELECT digest FROM blobs
     ORDER BY 1
)
SELECT 'tag' AS link, r.name AS repo, t.name AS tag, t.digest, t.pushed_at AS linked_at
  FROM dangling d
 CROSS JOIN tags t ON t.digest = d.digest
  JOIN repos r ON r.id = t.repo_id
UNION ALL
SELECT 'tag_history', r.name, h.tag, h.digest, h.linked_at
  FROM dangling d
 CROSS JOIN tag_history h ON h.digest = d.digest
  JOIN repos r ON r.id = h.repo_id
UNION ALL
SELECT 'revision', r.name, NULL, v.digest, v.linked_at
  FROM dangling d
 CROSS JOIN revisions v ON v.target = d.digest
  JOIN repos r ON r.id = v.repo_id
UNION ALL
SELECT 'layer_link', r.name, NULL, l.digest, l.linked_at
  FROM dangling d
 CROSS JOIN layer_links l ON l.digest = d.digest
  JOIN repos r ON r.id = l.repo_id
 ORDER BY 2, 1, 3, 4;
