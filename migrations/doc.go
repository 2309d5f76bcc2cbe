// Package migrations holds the goose SQL migrations that define regsql's
// database schema, embedded in the binary.
//
// 00001_initial.sql creates the tables and views; 00002_schema_docs.sql
// creates schema_docs, one line of doc for every table, view and column. A
// migration that adds a column adds its doc too: a test fails otherwise. The
// index is rebuilt from storage on every "regsql index", so a migration never
// has to carry data forward; goose's version table (goose_db_version) tells
// "regsql query" whether it knows the schema.
package migrations
