package main

import (
	"errors"
	"io"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes, documented in docs/cli.md.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // the command line was wrong
)

// usageError marks an error in what the user typed, as opposed to a failure
// while doing it.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return exitError
}

// env is what every command reads and writes besides its flags.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	return &cli.App{
		Name:    "regsql",
		Usage:   "index a container registry's storage into SQLite, query it, prune it",
		Version: version,
		Description: `regsql walks a distribution registry's storage (filesystem or object store)
into a SQLite database you query with SQL, to find what is safe to delete
and how much space a deletion frees.

   regsql index --root /var/lib/registry
   regsql query "SELECT name FROM repos ORDER BY name"
   regsql schema tags`,
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: false,
		Commands: []*cli.Command{
			indexCommand(e),
			queryCommand(e),
			schemaCommand(e),
			queriesCommand(e),
			runCommand(e),
			gcCommand(e),
			deleteCommand(e),
			ingestCommand(e),
			listenCommand(e),
			metricsCommand(e),
			serveCommand(e),
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err.Error()}
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main decides the exit code
	}
}

// dbFlag is the --db flag every command that reads or writes the index has.
func dbFlag(dest *string) cli.Flag {
	return &cli.StringFlag{
		Name:        "db",
		Usage:       "the index database `FILE`",
		Value:       "regsql.db",
		EnvVars:     []string{"REGSQL_DB"},
		Destination: dest,
	}
}
