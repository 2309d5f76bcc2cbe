-- +goose Up
-- Indexes the built-in reports need to stay fast on registries of 100k
-- manifests and 400k blobs. SQLite (modernc, pure Go) pays for every
-- lookup; what is cheap is reading an index in order. So each index below
-- carries the columns a report reads after the key (a covering index: no
-- visit to the table row), and the reports walk two indexes in the same
-- digest order side by side (a compound SELECT ... EXCEPT/UNION ... ORDER BY,
-- which SQLite merges) instead of looking each digest up.
--
-- The index build drops every secondary index before its bulk load and
-- creates it again from this definition afterwards (index/build.go), so
-- these cost one sort each per build. queries/explain_test.go fails when a
-- report would scan a table that one of them should serve.

-- Who names a digest: tags, tag history, revisions (by path and by
-- content), references and layer links, each with the repository.
DROP INDEX tags_digest;
CREATE INDEX tags_digest ON tags(digest, repo_id);

DROP INDEX tag_history_digest;
CREATE INDEX tag_history_digest ON tag_history(digest, repo_id);

DROP INDEX revisions_digest;
CREATE INDEX revisions_digest ON revisions(digest, repo_id, target);

DROP INDEX revisions_target;
CREATE INDEX revisions_target ON revisions(target, repo_id, digest);

DROP INDEX refs_digest;
CREATE INDEX refs_digest ON refs(digest, kind, manifest_digest);

DROP INDEX layer_links_digest;
CREATE INDEX layer_links_digest ON layer_links(digest, repo_id);

-- The children of an index, the only references a walk from a tag
-- follows: a few percent of refs, so walking them touches a small index
-- instead of the table.
CREATE INDEX refs_children ON refs(manifest_digest, position, digest) WHERE kind = 'child';

-- repo_usage, as 00001 defines it, computed once: repo_blobs was read twice
-- (once per repository and once to count each blob's repositories) and
-- grouped through temporary b-trees. Here the (blob, repository) pairs are
-- sorted once, each blob's repositories counted over them, and the sizes
-- summed per repository. The rows and values are the same.
DROP VIEW repo_usage;
CREATE VIEW repo_usage AS
WITH pairs(digest, repo_id) AS (
    SELECT digest, repo_id
      FROM (SELECT target AS digest, repo_id FROM revisions
            UNION ALL
            SELECT r.digest, v.repo_id
              FROM revisions v
             CROSS JOIN refs r ON r.manifest_digest = v.target AND +r.kind IN ('config', 'layer', 'child'))
     GROUP BY digest, repo_id
),
sized(repo_id, size, n) AS (
    SELECT p.repo_id, b.size, count(*) OVER (PARTITION BY p.digest)
      FROM pairs p
      LEFT JOIN blobs b ON b.digest = p.digest
),
per_repo(repo_id, blobs, total_bytes, unique_bytes, shared_bytes) AS (
    SELECT repo_id, count(size), sum(size),
           sum(CASE WHEN n = 1 THEN size END), sum(CASE WHEN n > 1 THEN size END)
      FROM sized
     GROUP BY repo_id
)
SELECT r.id AS repo_id, r.name,
       (SELECT count(*) FROM tags t WHERE t.repo_id = r.id) AS tags,
       (SELECT count(*) FROM revisions v WHERE v.repo_id = r.id) AS revisions,
       coalesce(p.blobs, 0) AS blobs,
       coalesce(p.total_bytes, 0) AS total_bytes,
       coalesce(p.unique_bytes, 0) AS unique_bytes,
       coalesce(p.shared_bytes, 0) AS shared_bytes
  FROM repos r
  LEFT JOIN per_repo p ON p.repo_id = r.id;

-- +goose Down
DROP VIEW repo_usage;
CREATE VIEW repo_usage AS
WITH users AS (SELECT digest, count(*) AS n FROM repo_blobs GROUP BY digest)
SELECT r.id AS repo_id, r.name,
       (SELECT count(*) FROM tags t WHERE t.repo_id = r.id) AS tags,
       (SELECT count(*) FROM revisions v WHERE v.repo_id = r.id) AS revisions,
       count(rb.size) AS blobs,
       coalesce(sum(rb.size), 0) AS total_bytes,
       coalesce(sum(CASE WHEN u.n = 1 THEN rb.size END), 0) AS unique_bytes,
       coalesce(sum(CASE WHEN u.n > 1 THEN rb.size END), 0) AS shared_bytes
  FROM repos r
  LEFT JOIN repo_blobs rb ON rb.repo_id = r.id
  LEFT JOIN users u ON u.digest = rb.digest
 GROUP BY r.id, r.name;

DROP INDEX refs_children;

DROP INDEX layer_links_digest;
CREATE INDEX layer_links_digest ON layer_links(digest);

DROP INDEX refs_digest;
CREATE INDEX refs_digest ON refs(digest, kind);

DROP INDEX revisions_target;
CREATE INDEX revisions_target ON revisions(target);

DROP INDEX revisions_digest;
CREATE INDEX revisions_digest ON revisions(digest);

DROP INDEX tag_history_digest;
CREATE INDEX tag_history_digest ON tag_history(digest);

DROP INDEX tags_digest;
CREATE INDEX tags_digest ON tags(digest);
