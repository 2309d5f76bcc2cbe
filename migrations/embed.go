// Package migrations holds the goose SQL migrations that define regsql's
// database schema, embedded in the binary.
package migrations

import "embed"

// FS holds the migration files, named NNNNN_name.sql.
//
//go:embed *.sql
var FS embed.FS
