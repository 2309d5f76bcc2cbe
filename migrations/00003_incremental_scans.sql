-- +goose Up
-- What an incremental "regsql index" needs to know about the run before it:
-- when exactly it started (whatever changed after that, less a margin for
-- the storage's clock, is read again), whether it was a --verify run (whose
-- extra reports a plain run would not repeat), and, for people, which kind
-- of run it was and how many repositories it read.

ALTER TABLE scans ADD COLUMN mode TEXT NOT NULL DEFAULT 'full';
ALTER TABLE scans ADD COLUMN verify INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scans ADD COLUMN started_ns INTEGER;
ALTER TABLE scans ADD COLUMN repos_read INTEGER NOT NULL DEFAULT 0;

INSERT INTO schema_docs (object, column, doc) VALUES
('scans', 'mode', '"full" when the run read the whole storage into a new database, "incremental" when it read again only what had changed since the run before and updated the database in place.'),
('scans', 'verify', '1 when the run was "regsql index --verify".'),
('scans', 'started_ns', 'When the scan started, unix nanoseconds: the next incremental run reads again whatever changed after it (less a margin).'),
('scans', 'repos_read', 'Repositories the run read: all of them in a full run, the new and changed ones in an incremental run.');

-- +goose Down
DELETE FROM schema_docs WHERE object = 'scans' AND column IN ('mode', 'verify', 'started_ns', 'repos_read');
ALTER TABLE scans DROP COLUMN repos_read;
ALTER TABLE scans DROP COLUMN started_ns;
ALTER TABLE scans DROP COLUMN verify;
ALTER TABLE scans DROP COLUMN mode;
