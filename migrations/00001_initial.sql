-- +goose Up
-- The index of one scan of a registry's storage. Every time is unix seconds
-- (UTC), so that portable SQL compares them with :now, which regsql binds; a
-- time is NULL when the storage gave none, so that an age test such as
-- "pushed_at < :now - 86400" never picks it by accident. Digests are text,
-- "<alg>:<hex>", exactly as the registry writes them.
--
-- Link tables ignore a second row for the same key (ON CONFLICT DO NOTHING in
-- the writer): an alias link (a sha512 path holding a sha256 digest) can name
-- the same digest twice, and one odd file must not fail the whole index.

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
    pushed_at INTEGER,
    PRIMARY KEY (repo_id, name)
);

CREATE TABLE tag_history (
    repo_id   INTEGER NOT NULL REFERENCES repos(id),
    tag       TEXT    NOT NULL,
    digest    TEXT    NOT NULL,
    linked_at INTEGER,
    PRIMARY KEY (repo_id, tag, digest)
);

-- digest is the path's digest (what the registry enumerates and what tags and
-- index children name); target is the link's content, the blob holding the
-- body. They differ only for an alias.
CREATE TABLE revisions (
    repo_id   INTEGER NOT NULL REFERENCES repos(id),
    digest    TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    linked_at INTEGER,
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
    modified_at INTEGER
);

CREATE TABLE layer_links (
    repo_id   INTEGER NOT NULL REFERENCES repos(id),
    digest    TEXT    NOT NULL,
    linked_at INTEGER,
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

CREATE TABLE scans (
    id          INTEGER PRIMARY KEY,
    root        TEXT    NOT NULL,
    driver      TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    repos       INTEGER NOT NULL DEFAULT 0,
    tags        INTEGER NOT NULL DEFAULT 0,
    revisions   INTEGER NOT NULL DEFAULT 0,
    manifests   INTEGER NOT NULL DEFAULT 0,
    blobs       INTEGER NOT NULL DEFAULT 0,
    blob_bytes  INTEGER NOT NULL DEFAULT 0,
    layer_links INTEGER NOT NULL DEFAULT 0,
    uploads     INTEGER NOT NULL DEFAULT 0,
    problems    INTEGER NOT NULL DEFAULT 0,
    version     TEXT    NOT NULL
);

CREATE INDEX tags_digest        ON tags(digest);
CREATE INDEX tag_history_digest ON tag_history(digest);
CREATE INDEX revisions_digest   ON revisions(digest);
CREATE INDEX revisions_target   ON revisions(target);
CREATE INDEX manifests_config   ON manifests(config_digest);
CREATE INDEX manifests_subject  ON manifests(subject_digest);
CREATE INDEX refs_digest        ON refs(digest, kind);
CREATE INDEX layer_links_digest ON layer_links(digest);
CREATE INDEX problems_kind      ON problems(kind);
CREATE INDEX problems_repo      ON problems(repo_id);

-- tagged_manifests: every (repository, manifest revision) a tag reaches: the
-- revision a tag's current/link names, then recursively every index child
-- that is a revision of the same repository. This is the root set of
-- "registry garbage-collect --delete-untagged" (tag history does not count).
-- A tag whose digest is not a revision of its repository reaches nothing.
-- Bodies are found through revisions.target, the blob the registry reads.
CREATE VIEW tagged_manifests AS
WITH RECURSIVE reach(repo_id, digest, target, tag, direct) AS (
    SELECT t.repo_id, v.digest, v.target, t.name, 1
      FROM tags t
      JOIN revisions v ON v.repo_id = t.repo_id AND v.digest = t.digest
    UNION
    SELECT reach.repo_id, v.digest, v.target, reach.tag, 0
      FROM reach
      JOIN refs r ON r.manifest_digest = reach.target AND r.kind = 'child'
      JOIN revisions v ON v.repo_id = reach.repo_id AND v.digest = r.digest
)
SELECT repo_id, digest, min(tag) AS via_tag, count(DISTINCT tag) AS tag_count,
       max(direct) AS direct
  FROM reach
 GROUP BY repo_id, digest;

-- untagged_revisions: revisions no tag of their repository reaches, not even
-- as an index child. gc_marked says whether --delete-untagged GC keeps the
-- revision anyway: its mark set is global, so a digest that is tagged in
-- another repository, or referenced by any tagged manifest, survives.
CREATE VIEW untagged_revisions AS
WITH marked(digest) AS (
    SELECT digest FROM tagged_manifests
    UNION
    SELECT r.digest
      FROM tagged_manifests tm
      JOIN revisions tv ON tv.repo_id = tm.repo_id AND tv.digest = tm.digest
      JOIN refs r ON r.manifest_digest = tv.target AND r.kind IN ('config', 'layer', 'child')
)
SELECT v.repo_id, v.digest, v.linked_at, (v.digest IN marked) AS gc_marked
  FROM revisions v
  LEFT JOIN tagged_manifests tm ON tm.repo_id = v.repo_id AND tm.digest = v.digest
 WHERE tm.digest IS NULL;

-- repo_blobs: the blobs each repository's revisions use, one row per
-- (repository, blob): the manifest bodies themselves, their configs and
-- layers, and the bodies of index children. A child that is a revision of
-- the repository brings its own config and layers through its own revision
-- row. _layers links alone use nothing: GC does not keep a blob for them.
-- size is NULL when the blob is missing from blobs/.
CREATE VIEW repo_blobs AS
WITH used(repo_id, digest) AS (
    SELECT repo_id, target FROM revisions
    UNION
    SELECT v.repo_id, r.digest
      FROM revisions v
      JOIN refs r ON r.manifest_digest = v.target AND r.kind IN ('config', 'layer', 'child')
)
SELECT u.repo_id, u.digest, b.size
  FROM used u
  LEFT JOIN blobs b ON b.digest = u.digest;

-- blob_usage: for every blob, who uses it.
CREATE VIEW blob_usage AS
WITH rf AS (SELECT digest, count(DISTINCT manifest_digest) AS n FROM refs
             WHERE kind IN ('config', 'layer', 'child') GROUP BY digest),
     rb AS (SELECT digest, count(*) AS n FROM repo_blobs GROUP BY digest),
     ll AS (SELECT digest, count(*) AS n FROM layer_links GROUP BY digest),
     mb AS (SELECT DISTINCT target AS digest FROM revisions)
SELECT b.digest, b.size, b.modified_at,
       (mb.digest IS NOT NULL) AS is_manifest,
       coalesce(rf.n, 0) AS manifests,
       coalesce(rb.n, 0) AS repos,
       coalesce(ll.n, 0) AS layer_links
  FROM blobs b
  LEFT JOIN rf ON rf.digest = b.digest
  LEFT JOIN rb ON rb.digest = b.digest
  LEFT JOIN ll ON ll.digest = b.digest
  LEFT JOIN mb ON mb.digest = b.digest;

-- repo_usage: bytes per repository, counting each blob once per repository:
-- total (every blob it uses), unique (used by no other repository: what
-- deleting the repository and running GC would free) and shared.
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

-- +goose Down
DROP VIEW repo_usage;
DROP VIEW blob_usage;
DROP VIEW repo_blobs;
DROP VIEW untagged_revisions;
DROP VIEW tagged_manifests;
DROP TABLE scans;
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
