// Package migrations holds the goose SQL migrations that define regsql's
// database schema, embedded in the binary.
//
// 00001_initial.sql creates the tables and views; 00002_schema_docs.sql
// creates schema_docs, one line of doc for every table, view and column. A
// migration that adds a column adds its doc too: a test fails otherwise.
// 00004_usage.sql creates the usage tables (pulls, pushes and deletes that
// the registry's logs and notifications report) and their views.
// 00005_report_indexes.sql gives the indexes the built-in reports read in
// digest order the columns they need, so that a report merges indexes
// rather than looking rows up. 00006_derived.sql creates the tables that
// "regsql index" computes from the others once per build (index/derive.go):
// what each tag reaches, what each revision and repository uses, and the
// registry's garbage collection replayed in both modes.
//
// The index is rebuilt from storage on every "regsql index", so a migration
// never has to carry the storage's data forward. The usage tables are the
// exception: storage does not hold them, so the build copies them, by column
// name, from the database it replaces (index/carry.go). goose's version
// table (goose_db_version) tells "regsql query" whether it knows the schema.
package migrations
