// Package index owns regsql's SQLite database: it creates it from a walk of
// a registry's storage (migrations, bulk writer, atomic rename into place),
// opens it read-only for queries, and describes its schema.
//
// The table and column names are a contract that users' saved queries rely
// on; docs/schema.md documents each one and a test keeps it in step.
package index
