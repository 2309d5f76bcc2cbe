package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/regsql/regsql/queries"
	"github.com/regsql/regsql/queries/builtin"
)

// queriesFlag is --queries DIR, where users keep their own saved queries.
func queriesFlag() *cli.StringSliceFlag {
	return &cli.StringSliceFlag{
		Name:  "queries",
		Usage: "also load saved queries (*.sql) from `DIR` (repeatable; also $REGSQL_QUERIES, a " + string(filepath.ListSeparator) + "-separated list); a file named like a built-in overrides it",
	}
}

// loadLibrary loads the built-in queries and the user's directories:
// $REGSQL_QUERIES first, then --queries in order, later ones overriding.
func loadLibrary(flag *cli.StringSliceFlag, c *cli.Context) (*queries.Library, error) {
	var dirs []string
	if env := os.Getenv("REGSQL_QUERIES"); env != "" {
		for _, d := range filepath.SplitList(env) {
			if d != "" {
				dirs = append(dirs, d)
			}
		}
	}
	dirs = append(dirs, flag.Get(c)...)
	return queries.Load(builtin.FS(), dirs...)
}

func queriesCommand(e *env) *cli.Command {
	var output string
	qflag := queriesFlag()
	list := func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usageError{fmt.Sprintf("unknown argument %q (did you mean: regsql queries show %s?)", c.Args().First(), c.Args().First())}
		}
		lib, err := loadLibrary(qflag, c)
		if err != nil {
			return err
		}
		t := sliceRows{cols: []string{"name", "kind", "params", "description", "source"}}
		for _, q := range lib.List() {
			t.vals = append(t.vals, []any{q.Name, string(q.Kind), paramSummary(q), q.Description, q.Source})
		}
		_, err = render(e.stdout, output, &t)
		return err
	}
	return &cli.Command{
		Name:      "queries",
		Usage:     "list the saved queries, or show one",
		UsageText: "regsql queries [--queries DIR]...\n   regsql queries show NAME",
		Description: `Lists the built-in saved queries and the user's own (from --queries DIR and
$REGSQL_QUERIES), with their parameters and defaults. Run one with
"regsql run NAME"; see one's SQL with "regsql queries show NAME".

Examples:
   regsql queries
   regsql queries --queries ./my-reports -o markdown
   regsql queries show old-tags`,
		Flags:        []cli.Flag{qflag, outputFlag(&output)},
		OnUsageError: onUsageError,
		Action:       list,
		Subcommands: []*cli.Command{{
			Name:         "show",
			Usage:        "print a saved query's file: its header and SQL",
			UsageText:    "regsql queries show NAME",
			Flags:        []cli.Flag{qflag},
			OnUsageError: onUsageError,
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return usageError{"queries show takes one query name"}
				}
				lib, err := loadLibrary(qflag, c)
				if err != nil {
					return err
				}
				q, err := getQuery(lib, c.Args().First())
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(e.stdout, "-- source: %s\n%s", q.Source, q.Text)
				return err
			},
		}},
	}
}

// getQuery finds a saved query or says which exist.
func getQuery(lib *queries.Library, name string) (queries.Query, error) {
	q, ok := lib.Get(name)
	if ok {
		return q, nil
	}
	var names []string
	for _, q := range lib.List() {
		names = append(names, q.Name)
	}
	sort.Strings(names)
	return queries.Query{}, usageError{fmt.Sprintf("no saved query %q; there are: %s", name, strings.Join(names, ", "))}
}

// paramSummary is "keep=10 older_than=90d".
func paramSummary(q queries.Query) string {
	var parts []string
	for _, p := range q.Params {
		if p.Required {
			parts = append(parts, p.Name+"=?")
			continue
		}
		parts = append(parts, p.Name+"="+p.Default)
	}
	return strings.Join(parts, " ")
}
