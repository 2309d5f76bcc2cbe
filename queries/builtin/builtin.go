// Package builtin holds regsql's built-in saved queries, embedded in the
// binary. Each NAME.sql file is one report; docs/queries.md lists them.
package builtin

import (
	"embed"
	"io/fs"
)

//go:embed *.sql
var files embed.FS

// FS returns the built-in query files, NAME.sql at its top.
func FS() fs.FS { return files }
