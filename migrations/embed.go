package migrations

import "embed"

// FS holds the migration files, named NNNNN_name.sql.
//
//go:embed *.sql
var FS embed.FS
