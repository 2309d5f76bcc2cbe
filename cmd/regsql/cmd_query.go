package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/regsql/regsql/index"
)

type queryOptions struct {
	DB     string
	Output string
	Params []string
}

func queryCommand(e *env) *cli.Command {
	var o queryOptions
	params := &cli.StringSliceFlag{Name: "param", Aliases: []string{"p"}, Usage: "bind `NAME=VALUE` to :NAME in the SQL (repeatable); :now is always bound to the current unix time"}
	return &cli.Command{
		Name:      "query",
		Usage:     "run SQL against the index (read-only)",
		UsageText: "regsql query [options] (SQL | @FILE.sql | -)",
		Description: `Runs one SQL statement against the index, read-only. The SQL comes from the
argument, from a file (@file.sql), or from standard input (- or no argument).
Times are unix seconds; :now is bound to the current time. x REGEXP 'pat'
matches Go regular expressions. See the tables with "regsql schema".

Examples:
   regsql query "SELECT r.name, count(*) FROM tags t JOIN repos r ON r.id = t.repo_id GROUP BY 1 ORDER BY 2 DESC LIMIT 10"
   regsql query -o csv -p days=30 "SELECT * FROM tags WHERE pushed_at < :now - :days*86400"
   regsql query @report.sql -o json
   echo "SELECT count(*) FROM blobs" | regsql query -`,
		Flags: []cli.Flag{
			dbFlag(&o.DB),
			outputFlag(&o.Output),
			params,
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return usageError{fmt.Sprintf("query takes one SQL statement, got %d arguments (quote the SQL)", c.NArg())}
			}
			o.Params = params.Get(c)
			sql, err := readSQL(e.stdin, c.Args().First())
			if err != nil {
				return err
			}
			return runQuery(c.Context, e, o, sql)
		},
	}
}

// readSQL takes the SQL from the argument, from @file, or from stdin.
func readSQL(stdin io.Reader, arg string) (string, error) {
	switch {
	case arg == "" || arg == "-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return "", fmt.Errorf("read SQL from standard input: %w", err)
		}
		if strings.TrimSpace(string(b)) == "" {
			return "", usageError{"no SQL given: pass it as an argument, as @file.sql, or on standard input"}
		}
		return string(b), nil
	case strings.HasPrefix(arg, "@"):
		b, err := os.ReadFile(arg[1:])
		if err != nil {
			return "", fmt.Errorf("read SQL file: %w", err)
		}
		return string(b), nil
	default:
		return arg, nil
	}
}

// parseParams turns -p name=value flags into a map.
func parseParams(list []string) (map[string]string, error) {
	m := make(map[string]string, len(list))
	for _, p := range list {
		name, value, ok := strings.Cut(p, "=")
		name = strings.TrimPrefix(strings.TrimSpace(name), ":")
		if !ok || name == "" {
			return nil, usageError{fmt.Sprintf("bad parameter %q: use -p NAME=VALUE", p)}
		}
		m[name] = value
	}
	return m, nil
}

func runQuery(ctx context.Context, e *env, o queryOptions, sql string) error {
	params, err := parseParams(o.Params)
	if err != nil {
		return err
	}
	db, err := index.Open(ctx, o.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	rs, err := db.Query(ctx, sql, params)
	if err != nil {
		return err
	}
	defer rs.Close()
	_, err = render(e.stdout, o.Output, rs)
	return err
}
