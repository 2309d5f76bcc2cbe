package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/regsql/regsql/index"
)

type schemaOptions struct {
	DB     string
	Output string
}

func schemaCommand(e *env) *cli.Command {
	var o schemaOptions
	return &cli.Command{
		Name:      "schema",
		Usage:     "list the index's tables and views, with their columns and what they mean",
		UsageText: "regsql schema [TABLE]",
		Description: `Without an argument, lists every table and view with one line of doc. With a
table or view name, lists its columns, their types and docs.

Examples:
   regsql schema
   regsql schema manifests -o markdown`,
		Flags: []cli.Flag{
			dbFlag(&o.DB),
			outputFlag(&o.Output),
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return usageError{"schema takes at most one table name"}
			}
			return runSchema(c.Context, e, o, c.Args().First())
		},
	}
}

func runSchema(ctx context.Context, e *env, o schemaOptions, name string) error {
	db, err := index.Open(ctx, o.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	objs, err := db.Schema(ctx)
	if err != nil {
		return err
	}
	if name == "" {
		var t sliceRows
		t.cols = []string{"name", "type", "doc"}
		for _, ob := range objs {
			t.vals = append(t.vals, []any{ob.Name, ob.Type, ob.Doc})
		}
		_, err := render(e.stdout, o.Output, &t)
		return err
	}
	var names []string
	for _, ob := range objs {
		if ob.Name != name {
			names = append(names, ob.Name)
			continue
		}
		t := sliceRows{cols: []string{"column", "type", "doc"}}
		for _, col := range ob.Columns {
			t.vals = append(t.vals, []any{col.Name, col.Type, col.Doc})
		}
		_, err := render(e.stdout, o.Output, &t)
		return err
	}
	return usageError{fmt.Sprintf("no table or view %q; there are: %s", name, strings.Join(names, ", "))}
}

// sliceRows is a result set held in memory.
type sliceRows struct {
	cols []string
	vals [][]any
	i    int
}

func (s *sliceRows) Columns() []string { return s.cols }
func (s *sliceRows) Next() bool        { s.i++; return s.i <= len(s.vals) }
func (s *sliceRows) Values() []any     { return s.vals[s.i-1] }
func (s *sliceRows) Err() error        { return nil }
