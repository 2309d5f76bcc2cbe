package index

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"regexp"
	"sync"

	"modernc.org/sqlite"
)

// readDriver is the SQLite driver that Open's connections come from: a
// driver of this package's own, not the process-wide "sqlite" one, so that
// the regexp function and the authorizer reach only the index's readers.
// Functions registered on a driver live as long as the process, so there is
// one, made on first use.
var readDriver = sync.OnceValues(func() (*sqlite.Driver, error) {
	d := &sqlite.Driver{}
	c := &patternCache{m: map[string]*regexp.Regexp{}}
	if err := d.RegisterDeterministicScalarFunction("regexp", 2, c.match); err != nil {
		return nil, fmt.Errorf("register SQL function regexp: %w", err)
	}
	d.RegisterConnectionHook(func(conn sqlite.ExecQuerierContext, _ string) error {
		r, ok := conn.(sqlite.AuthorizerRegisterer)
		if !ok {
			return fmt.Errorf("install authorizer: connection %T has none", conn)
		}
		return r.RegisterAuthorizer(authorizeRead)
	})
	return d, nil
})

// authorizeRead refuses ATTACH (and VACUUM INTO, which attaches): mode=ro
// covers only the index file itself, and SQLite would create any other file
// a query names, empty, even though query_only then refuses to write to it.
func authorizeRead(action sqlite.AuthorizerActionCode, _, _, _, _ string) sqlite.AuthorizerReturnCode {
	if action == sqlite.AuthAttach {
		return sqlite.AuthorizerDeny
	}
	return sqlite.AuthorizerOK
}

// openRead opens a connection pool on dsn through readDriver.
func openRead(dsn string) (*sql.DB, error) {
	d, err := readDriver()
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(connector{dsn: dsn, d: d}), nil
}

// connector lets database/sql open connections through a driver that is
// not registered under a name.
type connector struct {
	dsn string
	d   *sqlite.Driver
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.d }
