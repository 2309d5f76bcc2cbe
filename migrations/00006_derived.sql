-- +goose Up
-- Facts every report would otherwise work out again on every run, computed
-- once by each "regsql index" (full or incremental) from the tables the
-- walk loaded, and stored: what each tag reaches, what the registry's
-- garbage collector marks and deletes in each mode, and what each
-- repository and each revision uses. The index is a throwaway build, so
-- nothing here is ever edited: index/derive.go computes every row from the
-- other tables, and an incremental build computes them again from the
-- updated tables, writing only the rows that changed (a test checks that
-- it gives what a full build gives, row for row).

-- tag_reach: the revisions each tag reaches: the revision its current/link
-- names, then recursively every index child that is a revision of the same
-- repository. The root set of "registry garbage-collect --delete-untagged"
-- (tag history does not count). A tag whose digest is no revision of its
-- repository reaches nothing.
CREATE TABLE tag_reach (
    repo_id INTEGER NOT NULL REFERENCES repos(id),
    digest  TEXT    NOT NULL,
    tag     TEXT    NOT NULL,
    direct  INTEGER NOT NULL,
    PRIMARY KEY (repo_id, digest, tag)
) WITHOUT ROWID;

CREATE INDEX tag_reach_tag ON tag_reach(repo_id, tag, digest);

-- revision_usage: per revision, who lists it and what deleting it frees.
-- Its family is the revision and, recursively, the index children below it
-- that are revisions of the same repository: what deleting an index takes
-- with it when nothing else keeps the children.
CREATE TABLE revision_usage (
    repo_id      INTEGER NOT NULL REFERENCES repos(id),
    digest       TEXT    NOT NULL,
    tags         INTEGER NOT NULL,
    parents      INTEGER NOT NULL,
    family_size  INTEGER NOT NULL,
    family_bytes INTEGER NOT NULL,
    created      INTEGER,
    subject      TEXT,
    PRIMARY KEY (repo_id, digest)
) WITHOUT ROWID;

-- repo_usage was a view (00001, 00005) that paired every revision with
-- every blob it uses on every query; it is a table now, with the same
-- columns and values, and two more.
DROP VIEW repo_usage;
CREATE TABLE repo_usage (
    repo_id      INTEGER PRIMARY KEY REFERENCES repos(id),
    name         TEXT    NOT NULL,
    tags         INTEGER NOT NULL,
    revisions    INTEGER NOT NULL,
    untagged     INTEGER NOT NULL,
    blobs        INTEGER NOT NULL,
    total_bytes  INTEGER NOT NULL,
    unique_bytes INTEGER NOT NULL,
    shared_bytes INTEGER NOT NULL,
    last_push    INTEGER
);

-- The registry's garbage collector (registry/storage/garbagecollect.go),
-- replayed on the index in both modes, its defects included: repositories
-- in catalog order, each one's revisions in the order it enumerates them,
-- and a reference marked before is not descended into again.
--
-- gc_blobs: the blobs it deletes (those it does not mark), in either mode.
CREATE TABLE gc_blobs (
    digest         TEXT    PRIMARY KEY,
    swept_default  INTEGER NOT NULL,
    swept_untagged INTEGER NOT NULL,
    what           TEXT    NOT NULL,
    size           INTEGER NOT NULL,
    modified_at    INTEGER
) WITHOUT ROWID;

-- gc_revisions: the revisions --delete-untagged deletes: no tag names them
-- and the mark did not reach their digest.
CREATE TABLE gc_revisions (
    repo_id INTEGER NOT NULL REFERENCES repos(id),
    digest  TEXT    NOT NULL,
    PRIMARY KEY (repo_id, digest)
) WITHOUT ROWID;

-- gc_unreached: the manifests whose references the mark does not mark, in
-- either mode: no root's body, and no body the mark descends into.
CREATE TABLE gc_unreached (
    digest        TEXT    PRIMARY KEY,
    default_mode  INTEGER NOT NULL,
    untagged_mode INTEGER NOT NULL
) WITHOUT ROWID;

-- tagged_manifests, as 00001 defines it, read from tag_reach instead of
-- walking down from every tag on every query.
DROP VIEW untagged_revisions;
DROP VIEW tagged_manifests;
CREATE VIEW tagged_manifests AS
SELECT repo_id, digest, min(tag) AS via_tag, count(*) AS tag_count, max(direct) AS direct
  FROM tag_reach
 GROUP BY repo_id, digest;

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

-- tag_pulls, as 00004 defines it, with what each tag reaches read from
-- tag_reach.
DROP VIEW tag_pulls;
CREATE VIEW tag_pulls AS
WITH by_ref(repo, reference, pulls, last_pulled_at) AS (
    SELECT repo, reference, count(*), max(pulled_at) FROM pull_events GROUP BY repo, reference
),
reached(repo_id, tag, pulls, last_pulled_at, config_pulled_at) AS (
    SELECT x.repo_id, x.tag, sum(d.pulls), max(d.last_pulled_at), max(b.last_pulled_at)
      FROM tag_reach x
      JOIN repos r ON r.id = x.repo_id
      JOIN revisions v ON v.repo_id = x.repo_id AND v.digest = x.digest
      LEFT JOIN by_ref d ON d.repo = r.name AND d.reference = x.digest
      LEFT JOIN manifests m ON m.digest = v.target
      LEFT JOIN blob_pulls b ON b.repo = r.name AND b.digest = m.config_digest
     GROUP BY x.repo_id, x.tag
)
SELECT t.repo_id,
       t.name AS tag,
       t.digest,
       coalesce(n.pulls, 0) AS pulls,
       coalesce(x.pulls, 0) AS digest_pulls,
       nullif(max(coalesce(n.last_pulled_at, 0), coalesce(x.last_pulled_at, 0),
                  coalesce(x.config_pulled_at, 0)), 0) AS last_pulled_at
  FROM tags t
  JOIN repos r ON r.id = t.repo_id
  LEFT JOIN by_ref n ON n.repo = r.name AND n.reference = t.name
  LEFT JOIN reached x ON x.repo_id = t.repo_id AND x.tag = t.name;

INSERT INTO schema_docs (object, column, doc) VALUES
('gc_blobs', '', 'One row per blob that "registry garbage-collect" deletes, with or without --delete-untagged: the ones its mark does not reach. Computed by regsql index, replaying the registry''s mark on the index.'),
('gc_blobs', 'digest', 'Blob digest.'),
('gc_blobs', 'swept_default', '1 when "registry garbage-collect" deletes it (every revision of a listed repository is a root).'),
('gc_blobs', 'swept_untagged', '1 when "registry garbage-collect --delete-untagged" deletes it (only what tags name is a root).'),
('gc_blobs', 'what', 'manifest, config, layer, or blob (nothing references it).'),
('gc_blobs', 'size', 'Bytes on storage (blobs.size).'),
('gc_blobs', 'modified_at', 'When the blob was uploaded, unix seconds (blobs.modified_at).'),

('gc_revisions', '', 'One row per revision that "registry garbage-collect --delete-untagged" deletes: no tag names it, its repository has tags, and the mark reached its digest nowhere. Computed by regsql index.'),
('gc_revisions', 'repo_id', 'Repository (repos.id).'),
('gc_revisions', 'digest', 'Manifest digest (revisions.digest).'),

('gc_unreached', '', 'One row per manifest whose references "registry garbage-collect" does not mark in some mode: it is no root''s body and the mark never descends into it. Computed by regsql index.'),
('gc_unreached', 'digest', 'Manifest digest (manifests.digest).'),
('gc_unreached', 'default_mode', '1 when it is unreached without --delete-untagged.'),
('gc_unreached', 'untagged_mode', '1 when it is unreached with --delete-untagged.'),

('tag_reach', '', 'One row per tag and revision it reaches: the manifest its current/link names, then recursively the index children that are revisions of the same repository. Computed by regsql index.'),
('tag_reach', 'repo_id', 'Repository (repos.id).'),
('tag_reach', 'digest', 'Manifest digest reached (revisions.digest).'),
('tag_reach', 'tag', 'Tag name (tags.name).'),
('tag_reach', 'direct', '1 when the tag names the manifest itself, 0 when it reaches it only as an index child.'),

('revision_usage', '', 'One row per revision: the tags that reach it, the indexes that list it, and what deleting it frees. Its family is itself and, recursively, the index children below it that are revisions of the same repository. Computed by regsql index.'),
('revision_usage', 'repo_id', 'Repository (repos.id).'),
('revision_usage', 'digest', 'Manifest digest (revisions.digest).'),
('revision_usage', 'tags', 'How many tags of the repository reach it (tag_reach); 0 when it is untagged.'),
('revision_usage', 'parents', 'How many revisions of the repository are indexes that list it as a child.'),
('revision_usage', 'family_size', 'Revisions in its family: 1 for an image, more for an index with children in the repository.'),
('revision_usage', 'family_bytes', 'Bytes of the blobs that no revision outside its family uses, in any repository: what deleting the family and running GC frees.'),
('revision_usage', 'created', 'When its image was built (manifests.created), or for an index the newest such time of its children; NULL when unknown.'),
('revision_usage', 'subject', 'The manifest it refers to (manifests.subject_digest) when it is a signature, SBOM or other referrer; NULL otherwise.'),

('repo_usage', 'untagged', 'Revisions no tag reaches (revision_usage.tags = 0).'),
('repo_usage', 'last_push', 'When a tag of the repository was last pushed, unix seconds; NULL when it has no tags.');

-- +goose Down
DELETE FROM schema_docs WHERE object IN ('tag_reach', 'revision_usage', 'gc_blobs', 'gc_revisions', 'gc_unreached')
    OR (object = 'repo_usage' AND column IN ('untagged', 'last_push'));

DROP VIEW tag_pulls;
CREATE VIEW tag_pulls AS
WITH RECURSIVE reach(repo_id, tag, digest, target) AS (
    SELECT t.repo_id, t.name, v.digest, v.target
      FROM tags t
      JOIN revisions v ON v.repo_id = t.repo_id AND v.digest = t.digest
    UNION
    SELECT x.repo_id, x.tag, v.digest, v.target
      FROM reach x
      JOIN refs c ON c.manifest_digest = x.target AND c.kind = 'child'
      JOIN revisions v ON v.repo_id = x.repo_id AND v.digest = c.digest
),
by_ref(repo, reference, pulls, last_pulled_at) AS (
    SELECT repo, reference, count(*), max(pulled_at) FROM pull_events GROUP BY repo, reference
),
reached(repo_id, tag, pulls, last_pulled_at, config_pulled_at) AS (
    SELECT x.repo_id, x.tag, sum(d.pulls), max(d.last_pulled_at), max(b.last_pulled_at)
      FROM reach x
      JOIN repos r ON r.id = x.repo_id
      LEFT JOIN by_ref d ON d.repo = r.name AND d.reference = x.digest
      LEFT JOIN manifests m ON m.digest = x.target
      LEFT JOIN blob_pulls b ON b.repo = r.name AND b.digest = m.config_digest
     GROUP BY x.repo_id, x.tag
)
SELECT t.repo_id,
       t.name AS tag,
       t.digest,
       coalesce(n.pulls, 0) AS pulls,
       coalesce(x.pulls, 0) AS digest_pulls,
       nullif(max(coalesce(n.last_pulled_at, 0), coalesce(x.last_pulled_at, 0),
                  coalesce(x.config_pulled_at, 0)), 0) AS last_pulled_at
  FROM tags t
  JOIN repos r ON r.id = t.repo_id
  LEFT JOIN by_ref n ON n.repo = r.name AND n.reference = t.name
  LEFT JOIN reached x ON x.repo_id = t.repo_id AND x.tag = t.name;

DROP VIEW untagged_revisions;
DROP VIEW tagged_manifests;
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

DROP TABLE gc_unreached;
DROP TABLE gc_revisions;
DROP TABLE gc_blobs;

DROP TABLE repo_usage;
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

DROP TABLE revision_usage;
DROP TABLE tag_reach;
