-- +goose Up
-- The index of one scan of a registry's storage. Every time is unix seconds
-- (UTC), so that portable SQL compares them with :now, which regsql binds.
-- Digests are text, "<alg>:<hex>", exactly as the registry writes them.

CREATE TABLE scans (
    id          INTEGER PRIMARY KEY,
    root        TEXT    NOT NULL,
    driver      TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    repos       INTEGER NOT NULL DEFAULT 0,
    tags        INTEGER NOT NULL DEFAULT 0,
    revisions   INTEGER NOT NULL DEFAULT 0,
    manifests   INTEGER NOT NULL DEFAULT 0,
    blobs       INTEGER NOT NULL DEFAULT 0,
    blob_bytes  INTEGER NOT NULL DEFAULT 0,
    problems    INTEGER NOT NULL DEFAULT 0,
    version     TEXT    NOT NULL
);

CREATE TABLE repos (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    listed      INTEGER NOT NULL,
    has_layers  INTEGER NOT NULL DEFAULT 0,
    has_uploads INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE tags (
    repo_id   INTEGER NOT NULL REFERENCES repos(id),
    name      TEXT    NOT NULL,
    digest    TEXT    NOT NULL,
    pushed_at INTEGER NOT NULL,
    PRIMARY KEY (repo_id, name)
);

CREATE TABLE tag_history (
    repo_id   INTEGER NOT NULL REFERENCES repos(id),
    tag       TEXT    NOT NULL,
    digest    TEXT    NOT NULL,
    linked_at INTEGER NOT NULL,
    PRIMARY KEY (repo_id, tag, digest)
);

CREATE TABLE revisions (
    repo_id   INTEGER NOT NULL REFERENCES repos(id),
    digest    TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    linked_at INTEGER NOT NULL,
    PRIMARY KEY (repo_id, digest)
);

CREATE TABLE manifests (
    digest         TEXT    PRIMARY KEY,
    media_type     TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    schema_version INTEGER,
    artifact_type  TEXT,
    config_digest  TEXT,
    subject_digest TEXT,
    size           INTEGER NOT NULL,
    total_size     INTEGER NOT NULL,
    created        INTEGER,
    os             TEXT,
    arch           TEXT,
    variant        TEXT,
    labels         TEXT,
    body           TEXT
);

CREATE TABLE refs (
    manifest_digest  TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    position         INTEGER NOT NULL,
    digest           TEXT    NOT NULL,
    media_type       TEXT,
    size             INTEGER,
    artifact_type    TEXT,
    platform_os      TEXT,
    platform_arch    TEXT,
    platform_variant TEXT,
    PRIMARY KEY (manifest_digest, kind, position)
);

CREATE TABLE blobs (
    digest      TEXT    PRIMARY KEY,
    size        INTEGER NOT NULL,
    modified_at INTEGER NOT NULL
);

CREATE TABLE layer_links (
    repo_id   INTEGER NOT NULL REFERENCES repos(id),
    digest    TEXT    NOT NULL,
    linked_at INTEGER NOT NULL,
    PRIMARY KEY (repo_id, digest)
);

CREATE TABLE uploads (
    repo_id    INTEGER NOT NULL REFERENCES repos(id),
    uuid       TEXT    NOT NULL,
    started_at INTEGER,
    size       INTEGER NOT NULL,
    PRIMARY KEY (repo_id, uuid)
);

CREATE TABLE problems (
    id      INTEGER PRIMARY KEY,
    kind    TEXT NOT NULL,
    repo_id INTEGER REFERENCES repos(id),
    path    TEXT NOT NULL,
    digest  TEXT,
    message TEXT NOT NULL
);

CREATE INDEX tags_digest           ON tags(digest);
CREATE INDEX tag_history_digest    ON tag_history(digest);
CREATE INDEX revisions_digest      ON revisions(digest);
CREATE INDEX manifests_config      ON manifests(config_digest);
CREATE INDEX manifests_subject     ON manifests(subject_digest);
CREATE INDEX refs_digest           ON refs(digest, kind);
CREATE INDEX layer_links_digest    ON layer_links(digest);
CREATE INDEX problems_kind         ON problems(kind);
CREATE INDEX problems_repo         ON problems(repo_id);

-- tagged_manifests: every (repository, manifest) a tag reaches, directly or
-- as a child of a tagged index (recursively), through revisions of the same
-- repository. This is what --delete-untagged GC keeps.
CREATE VIEW tagged_manifests AS
WITH RECURSIVE reach(repo_id, digest, tag) AS (
    SELECT t.repo_id, t.digest, t.name
      FROM tags t
      JOIN revisions v ON v.repo_id = t.repo_id AND v.digest = t.digest
    UNION
    SELECT reach.repo_id, r.digest, reach.tag
      FROM reach
      JOIN refs r ON r.manifest_digest = reach.digest AND r.kind = 'child'
      JOIN revisions v ON v.repo_id = reach.repo_id AND v.digest = r.digest
)
SELECT repo_id, digest, min(tag) AS via_tag, count(DISTINCT tag) AS tag_count
  FROM reach
 GROUP BY repo_id, digest;

-- untagged_revisions: revisions no tag reaches, not even as an index child.
CREATE VIEW untagged_revisions AS
SELECT v.repo_id, v.digest, v.linked_at
  FROM revisions v
 WHERE NOT EXISTS (SELECT 1 FROM tagged_manifests tm
                    WHERE tm.repo_id = v.repo_id AND tm.digest = v.digest);

-- repo_blobs: the blobs each repository's revisions use: the manifest bodies
-- themselves, their configs and layers (index children are revisions too).
CREATE VIEW repo_blobs AS
SELECT v.repo_id, v.digest, coalesce(b.size, m.size, 0) AS size
  FROM revisions v
  LEFT JOIN manifests m ON m.digest = v.digest
  LEFT JOIN blobs b ON b.digest = v.digest
UNION
SELECT v.repo_id, r.digest, coalesce(b.size, r.size, 0) AS size
  FROM revisions v
  JOIN refs r ON r.manifest_digest = v.digest AND r.kind IN ('config', 'layer')
  LEFT JOIN blobs b ON b.digest = r.digest;

-- blob_usage: for every blob, how many manifests and repositories use it.
CREATE VIEW blob_usage AS
SELECT b.digest, b.size, b.modified_at,
       (SELECT count(DISTINCT r.manifest_digest) FROM refs r
         WHERE r.digest = b.digest AND r.kind IN ('config', 'layer')) AS manifests,
       (SELECT count(DISTINCT rb.repo_id) FROM repo_blobs rb
         WHERE rb.digest = b.digest) AS repos
  FROM blobs b;

-- repo_usage: bytes per repository: total (distinct blobs it uses), unique
-- (used by no other repository) and shared (used by others too).
CREATE VIEW repo_usage AS
WITH rb AS (SELECT DISTINCT repo_id, digest, size FROM repo_blobs),
     users AS (SELECT digest, count(*) AS n FROM rb GROUP BY digest)
SELECT r.id AS repo_id, r.name,
       (SELECT count(*) FROM tags t WHERE t.repo_id = r.id) AS tags,
       (SELECT count(*) FROM revisions v WHERE v.repo_id = r.id) AS revisions,
       coalesce(sum(rb.size), 0) AS total_bytes,
       coalesce(sum(CASE WHEN u.n = 1 THEN rb.size END), 0) AS unique_bytes,
       coalesce(sum(CASE WHEN u.n > 1 THEN rb.size END), 0) AS shared_bytes
  FROM repos r
  LEFT JOIN rb ON rb.repo_id = r.id
  LEFT JOIN users u ON u.digest = rb.digest
 GROUP BY r.id, r.name;

-- +goose Down
DROP VIEW repo_usage;
DROP VIEW blob_usage;
DROP VIEW repo_blobs;
DROP VIEW untagged_revisions;
DROP VIEW tagged_manifests;
DROP TABLE problems;
DROP TABLE uploads;
DROP TABLE layer_links;
DROP TABLE blobs;
DROP TABLE refs;
DROP TABLE manifests;
DROP TABLE revisions;
DROP TABLE tag_history;
DROP TABLE tags;
DROP TABLE repos;
DROP TABLE scans;
