package index

import (
	"errors"
	"fmt"
)

// Open returns these, wrapped with the database's path, when it cannot serve
// the file as an index.
var (
	// ErrNoIndex: the file does not exist.
	ErrNoIndex = errors.New(`no such file (run "regsql index --root DIR" first)`)
	// ErrNotIndex: the file is not a database that "regsql index" wrote.
	ErrNotIndex = errors.New(`not a regsql database (run "regsql index" first)`)
	// ErrSchemaNewer: a newer regsql wrote the database.
	ErrSchemaNewer = errors.New("made by a newer regsql")
	// ErrSchemaOlder: an older regsql wrote the database.
	ErrSchemaOlder = errors.New("made by an older regsql")
)

// ErrWouldReplace is what Build returns, wrapped, rather than rename the new
// index over a file that is not a regsql database (a mistyped --db).
var ErrWouldReplace = errors.New("exists and is not a regsql database: refusing to replace it")

// Query returns these, wrapped, for SQL it will not run.
var (
	// ErrMultipleStatements: the SQL holds more than one statement.
	ErrMultipleStatements = errors.New("the query holds more than one statement")
	// ErrEmptyQuery: the SQL holds no statement.
	ErrEmptyQuery = errors.New("no SQL statement")
)

// ParamNotSetError is what Query returns when the SQL uses a :name that the
// params do not set.
type ParamNotSetError struct {
	Name string
}

func (e *ParamNotSetError) Error() string {
	return fmt.Sprintf("parameter :%s is not set (pass -p %s=VALUE)", e.Name, e.Name)
}
