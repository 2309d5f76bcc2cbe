// Package queries owns regsql's saved queries and candidate lists.
//
// A saved query is a .sql file with a strict comment header that names it,
// describes it and declares its parameters:
//
//	-- name: old-tags
//	-- description: Tags pushed more than :older_than ago, keeping the newest :keep per repository
//	-- param: keep = 10            number of newest tags kept per repository
//	-- param: older_than = 90d     age; accepts 30d, 12h, 2w, or seconds
//	-- kind: candidates
//
// The built-in reports are embedded in the binary (package builtin); a user
// directory's file of the same name overrides one. Parse reads a header,
// Load builds a Library from the built-ins and user directories, and
// Query.Bind turns -p values into the parameters the index binds, converting
// durations to seconds and sizes to bytes.
//
// A candidate list is what a candidates query returns and what the deleter
// consumes: rows of repository, tag and/or digest, with an optional reason
// and byte count, as CSV, JSON or JSON Lines. ReadCandidates reads and
// validates one; CandidatesJSON turns one into the :candidates parameter the
// reclaimable report reads with json_each, because the index is opened
// read-only and cannot take a temporary table.
//
// The package reads its files and nothing else: it runs no SQL and prints
// nothing. docs/queries.md and docs/candidates.md describe both formats for
// users.
package queries
