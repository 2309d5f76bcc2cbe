-- +goose Up
-- Usage: what the registry's logs and notifications say was pulled, pushed
-- and deleted ("regsql ingest-log", "regsql listen-notifications"). Unlike
-- every other table, these are not read from storage and cannot be read
-- again: "regsql index" copies them from the database it replaces.
--
-- The tables keep what the source said, with the repository by name, since
-- repos.id is renumbered by every index; the views (pulls, manifest_pulls,
-- tag_pulls) join them to the index as it is now. A pull by tag is resolved
-- to a digest at query time, against the current index, so a re-index never
-- leaves a stale resolution behind.
--
-- event_key is the registry's request id (or a hash of the input that had
-- none): a log line and a notification of the same request, or a file read
-- twice, add one row.

CREATE TABLE usage_sources (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    covered_from INTEGER,
    covered_to   INTEGER,
    lines        INTEGER NOT NULL DEFAULT 0,
    pulls        INTEGER NOT NULL DEFAULT 0,
    blob_pulls   INTEGER NOT NULL DEFAULT 0,
    pushes       INTEGER NOT NULL DEFAULT 0,
    duplicates   INTEGER NOT NULL DEFAULT 0,
    skipped      INTEGER NOT NULL DEFAULT 0,
    malformed    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE pull_events (
    event_key  TEXT    PRIMARY KEY,
    repo       TEXT    NOT NULL,
    reference  TEXT    NOT NULL,
    digest     TEXT,
    pulled_at  INTEGER NOT NULL,
    method     TEXT    NOT NULL,
    status     INTEGER,
    user_agent TEXT,
    remote     TEXT,
    user       TEXT,
    source_id  INTEGER REFERENCES usage_sources(id)
);

-- One row per (repository, blob): a blob GET is kept as the first and last
-- time, which re-reading a log cannot change, rather than a row per layer
-- download.
CREATE TABLE blob_pulls (
    repo            TEXT    NOT NULL,
    digest          TEXT    NOT NULL,
    first_pulled_at INTEGER NOT NULL,
    last_pulled_at  INTEGER NOT NULL,
    PRIMARY KEY (repo, digest)
) WITHOUT ROWID;

CREATE TABLE push_events (
    event_key   TEXT    PRIMARY KEY,
    kind        TEXT    NOT NULL,
    repo        TEXT    NOT NULL,
    reference   TEXT,
    tag         TEXT,
    digest      TEXT,
    media_type  TEXT,
    size        INTEGER,
    from_repo   TEXT,
    happened_at INTEGER NOT NULL,
    method      TEXT,
    user_agent  TEXT,
    remote      TEXT,
    user        TEXT,
    source_id   INTEGER REFERENCES usage_sources(id)
);

CREATE INDEX pull_events_reference ON pull_events(repo, reference, pulled_at);
CREATE INDEX pull_events_time      ON pull_events(pulled_at);
CREATE INDEX push_events_repo      ON push_events(repo, happened_at);

-- pulls: pull_events joined to the index. A pull by tag names the tag's
-- current digest when the tag was last pushed at or before the pull; when it
-- was pushed again since, the digest it named then is unknown (NULL), never
-- guessed.
CREATE VIEW pulls AS
SELECT r.id AS repo_id,
       e.repo,
       e.reference,
       CASE WHEN instr(e.reference, ':') = 0 THEN e.reference END AS tag,
       coalesce(e.digest,
                CASE WHEN instr(e.reference, ':') > 0 THEN e.reference END,
                (SELECT t.digest FROM tags t
                  WHERE t.repo_id = r.id AND t.name = e.reference AND t.pushed_at <= e.pulled_at)) AS digest,
       e.pulled_at,
       e.method,
       e.user_agent,
       e.remote,
       e.user,
       e.source_id
  FROM pull_events e
  LEFT JOIN repos r ON r.name = e.repo;

-- manifest_pulls: per revision, the pulls that name it (by digest, or by a
-- tag resolved to it) and the last GET of its config blob from the same
-- repository: a config belongs to one image, so its download says that image
-- was pulled even when the manifest request was not seen. Layers are shared
-- by many images and say nothing of which one was pulled.
CREATE VIEW manifest_pulls AS
WITH p(repo_id, digest, pulls, first_pulled_at, last_pulled_at) AS (
    SELECT repo_id, digest, count(*), min(pulled_at), max(pulled_at)
      FROM pulls
     WHERE repo_id IS NOT NULL AND digest IS NOT NULL
     GROUP BY repo_id, digest
)
SELECT v.repo_id,
       v.digest,
       coalesce(p.pulls, 0) AS pulls,
       p.first_pulled_at,
       b.last_pulled_at AS config_pulled_at,
       CASE WHEN b.last_pulled_at IS NULL OR p.last_pulled_at >= b.last_pulled_at
            THEN p.last_pulled_at ELSE b.last_pulled_at END AS last_pulled_at
  FROM revisions v
  JOIN repos r ON r.id = v.repo_id
  LEFT JOIN p ON p.repo_id = v.repo_id AND p.digest = v.digest
  LEFT JOIN manifests m ON m.digest = v.target
  LEFT JOIN blob_pulls b ON b.repo = r.name AND b.digest = m.config_digest;

-- tag_pulls: per tag, its pulls by name, and the pulls by digest of what it
-- reaches now (its manifest and, through an index, the children in the same
-- repository): a tag counts as pulled when its image was pulled by digest.
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

-- usage_coverage: the span the ingested sources cover. Pull data starts when
-- ingestion starts: before covered_from, a tag never seen pulled may have
-- been pulled every day.
CREATE VIEW usage_coverage AS
SELECT min(covered_from) AS covered_from, max(covered_to) AS covered_to, count(*) AS sources
  FROM usage_sources;

INSERT INTO schema_docs (object, column, doc) VALUES
('usage_sources', '', 'One row per log file, standard input or notification listener that "regsql ingest-log" or "regsql listen-notifications" read; kept across re-indexing.'),
('usage_sources', 'id', 'Row number (pull_events.source_id).'),
('usage_sources', 'name', 'The file as named on the command line, "-" for standard input, or the listener''s address.'),
('usage_sources', 'kind', 'file or listener.'),
('usage_sources', 'started_at', 'When regsql started reading it, unix seconds.'),
('usage_sources', 'finished_at', 'When regsql finished reading it, unix seconds; NULL while a listener runs or when the run was cut short.'),
('usage_sources', 'covered_from', 'Start of the time it covers, unix seconds: its first event (a file), or when listening started (a listener); NULL when a file held no event.'),
('usage_sources', 'covered_to', 'End of the time it covers, unix seconds: its last event, or the listener''s last write.'),
('usage_sources', 'lines', 'Lines read (notification envelopes, for a listener).'),
('usage_sources', 'pulls', 'Manifest pulls added to pull_events.'),
('usage_sources', 'blob_pulls', 'Blob GETs read (kept as first and last times in blob_pulls).'),
('usage_sources', 'pushes', 'Pushes, mounts and deletes added to push_events.'),
('usage_sources', 'duplicates', 'Events already stored, from this or another source (same request id).'),
('usage_sources', 'skipped', 'Log lines and events that are no request regsql keeps (other messages, errors, catalog and tag list requests, blob HEADs).'),
('usage_sources', 'malformed', 'Lines that are no registry log line or notification; skipped.'),

('pull_events', '', 'One row per successful manifest GET or HEAD (a pull) as the log or notification said it, the repository by name; query the pulls view, which joins it to the index. Kept across re-indexing.'),
('pull_events', 'event_key', 'The registry''s request id, or a hash of the line that had none: the same request read twice is one row.'),
('pull_events', 'repo', 'Repository name as requested (repos.name).'),
('pull_events', 'reference', 'Tag or digest as requested.'),
('pull_events', 'digest', 'Manifest digest the source named: always for a notification, for a log line only when the pull was by digest; NULL otherwise.'),
('pull_events', 'pulled_at', 'When the registry answered, unix seconds.'),
('pull_events', 'method', 'GET or HEAD: a client that checks whether its copy is current sends HEAD, and that is use too.'),
('pull_events', 'status', 'HTTP status from a log line (200, or 304 when the client''s copy was current); NULL for a notification.'),
('pull_events', 'user_agent', 'The client''s User-Agent.'),
('pull_events', 'remote', 'The client''s address without its port: a hash of it by default (ingest --remote-addr hash), the address (keep), or NULL (drop).'),
('pull_events', 'user', 'The authenticated user name; NULL when none.'),
('pull_events', 'source_id', 'The source it was first read from (usage_sources.id).'),

('blob_pulls', '', 'One row per (repository, blob) fetched with GET: the first and last time seen. Kept across re-indexing.'),
('blob_pulls', 'repo', 'Repository name as requested.'),
('blob_pulls', 'digest', 'Blob digest.'),
('blob_pulls', 'first_pulled_at', 'Earliest GET seen, unix seconds.'),
('blob_pulls', 'last_pulled_at', 'Latest GET seen, unix seconds.'),

('push_events', '', 'One row per push, mount or delete the registry reported. Kept across re-indexing.'),
('push_events', 'event_key', 'The registry''s request id, or a hash of the input that had none.'),
('push_events', 'kind', 'push (manifest PUT), blob_push, mount, delete (manifest by digest), tag_delete, blob_delete, delete_digest (a notification''s delete that does not say manifest or blob) or repo_delete.'),
('push_events', 'repo', 'Repository name.'),
('push_events', 'reference', 'Tag or digest as requested; NULL when none.'),
('push_events', 'tag', 'Tag pushed or deleted; NULL when none.'),
('push_events', 'digest', 'Manifest or blob digest; NULL when the source does not say (a log line of a push by tag).'),
('push_events', 'media_type', 'Media type from a notification; NULL otherwise.'),
('push_events', 'size', 'Bytes, from a notification; NULL otherwise.'),
('push_events', 'from_repo', 'Repository a blob was mounted from; NULL otherwise.'),
('push_events', 'happened_at', 'When the registry answered, unix seconds.'),
('push_events', 'method', 'HTTP method of the request.'),
('push_events', 'user_agent', 'The client''s User-Agent.'),
('push_events', 'remote', 'The client''s address without its port, hashed, kept or NULL as for pull_events.'),
('push_events', 'user', 'The authenticated user name; NULL when none.'),
('push_events', 'source_id', 'The source it was first read from (usage_sources.id).'),

('pulls', '', 'One row per pull (pull_events) joined to the index: a docker pull of a multi-platform tag is three (HEAD by tag, GET of the index and of the image by digest).'),
('pulls', 'repo_id', 'Repository (repos.id); NULL when the index has no such repository.'),
('pulls', 'repo', 'Repository name as requested.'),
('pulls', 'reference', 'Tag or digest as requested.'),
('pulls', 'tag', 'The tag, when the pull was by tag; NULL for a pull by digest.'),
('pulls', 'digest', 'Manifest pulled: as the source said, or for a pull by tag the tag''s digest when it was last pushed at or before the pull; NULL when unknown.'),
('pulls', 'pulled_at', 'When, unix seconds.'),
('pulls', 'method', 'GET or HEAD.'),
('pulls', 'user_agent', 'The client''s User-Agent.'),
('pulls', 'remote', 'The client''s address (hashed by default).'),
('pulls', 'user', 'The authenticated user name; NULL when none.'),
('pulls', 'source_id', 'usage_sources.id.'),

('manifest_pulls', '', 'One row per revision: its pulls and when it was last pulled. No pull means none was seen since ingestion started (usage_coverage), not never.'),
('manifest_pulls', 'repo_id', 'Repository (repos.id).'),
('manifest_pulls', 'digest', 'Manifest digest (revisions.digest).'),
('manifest_pulls', 'pulls', 'Pulls that name it, by digest or by a tag resolved to it.'),
('manifest_pulls', 'first_pulled_at', 'Earliest of those pulls, unix seconds; NULL when none.'),
('manifest_pulls', 'config_pulled_at', 'Last GET of its config blob from this repository, unix seconds; NULL when none.'),
('manifest_pulls', 'last_pulled_at', 'Latest of its pulls and its config''s GETs, unix seconds; NULL when none was seen.'),

('tag_pulls', '', 'One row per tag: pulls by its name and by the digests it reaches. No pull means none was seen since ingestion started (usage_coverage), not never.'),
('tag_pulls', 'repo_id', 'Repository (repos.id).'),
('tag_pulls', 'tag', 'Tag name (tags.name).'),
('tag_pulls', 'digest', 'The tag''s digest now (tags.digest).'),
('tag_pulls', 'pulls', 'Pulls by the tag''s name, whatever it named then.'),
('tag_pulls', 'digest_pulls', 'Pulls by digest of the manifests the tag reaches now (its own, and an index''s children).'),
('tag_pulls', 'last_pulled_at', 'Latest pull by name, by digest of what it reaches, or GET of those manifests'' configs, unix seconds; NULL when none was seen.'),

('usage_coverage', '', 'One row: the span of time the ingested logs and notifications cover.'),
('usage_coverage', 'covered_from', 'Earliest time any source covers, unix seconds; NULL before any ingestion. Pull data starts here.'),
('usage_coverage', 'covered_to', 'Latest time any source covers, unix seconds.'),
('usage_coverage', 'sources', 'Rows in usage_sources.');

-- +goose Down
DELETE FROM schema_docs WHERE object IN ('usage_sources', 'pull_events', 'blob_pulls', 'push_events',
    'pulls', 'manifest_pulls', 'tag_pulls', 'usage_coverage');
DROP VIEW usage_coverage;
DROP VIEW tag_pulls;
DROP VIEW manifest_pulls;
DROP VIEW pulls;
DROP TABLE push_events;
DROP TABLE blob_pulls;
DROP TABLE pull_events;
DROP TABLE usage_sources;
