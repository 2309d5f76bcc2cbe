-- name: dangling-links
-- description: Links naming a blob that does not exist: tags, tag history, manifest revisions and layer links
-- kind: report

-- A dangling tag or revision fails pulls; a dangling layer link is what the
-- registry's GC leaves behind when it deletes a blob that only a directory
-- without _manifests linked. The link's own time is when it was written.
SELECT 'tag' AS link, r.name AS repo, t.name AS tag, t.digest, t.pushed_at AS linked_at
  FROM tags t
  JOIN repos r ON r.id = t.repo_id
 WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = t.digest)
UNION ALL
SELECT 'tag_history', r.name, h.tag, h.digest, h.linked_at
  FROM tag_history h
  JOIN repos r ON r.id = h.repo_id
 WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = h.digest)
UNION ALL
SELECT 'revision', r.name, NULL, v.digest, v.linked_at
  FROM revisions v
  JOIN repos r ON r.id = v.repo_id
 WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = v.target)
UNION ALL
SELECT 'layer_link', r.name, NULL, l.digest, l.linked_at
  FROM layer_links l
  JOIN repos r ON r.id = l.repo_id
 WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = l.digest)
 ORDER BY 2, 1, 3, 4;
