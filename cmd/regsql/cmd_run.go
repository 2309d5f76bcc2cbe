package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/queries"
)

type runOptions struct {
	DB     string
	Output string
	Params []string
	From   string
}

func runCommand(e *env) *cli.Command {
	var o runOptions
	qflag := queriesFlag()
	params := &cli.StringSliceFlag{Name: "param", Aliases: []string{"p"}, Usage: "set a parameter, `NAME=VALUE` (repeatable); durations like 30d and sizes like 500MB are accepted where declared"}
	return &cli.Command{
		Name:      "run",
		Usage:     "run a saved query (see: regsql queries)",
		UsageText: "regsql run NAME [-p NAME=VALUE]... [--from CANDIDATES] [-o FORMAT]",
		Description: `Runs a saved query against the index with its declared parameters; what you
do not set takes its default. A query of kind "candidates" returns the columns
repo, tag, digest, reason, bytes: write it with -o csv, json or jsonl and hand
the file to "regsql delete --from". --from loads such a list into the
:candidates parameter of a query that declares one (reclaimable does).

Examples:
   regsql run old-tags -p keep=5 -p older_than=30d -o csv > candidates.csv
   regsql run reclaimable --from candidates.csv
   regsql run unreferenced-blobs -o json`,
		Flags: []cli.Flag{
			dbFlag(&o.DB),
			outputFlag(&o.Output),
			params,
			&cli.StringFlag{Name: "from", Usage: "a candidate list `FILE` (csv, json or jsonl; - for standard input) bound to :candidates", Destination: &o.From},
			qflag,
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{"run takes one saved query name (list them with: regsql queries)"}
			}
			o.Params = params.Get(c)
			lib, err := loadLibrary(qflag, c)
			if err != nil {
				return err
			}
			q, err := getQuery(lib, c.Args().First())
			if err != nil {
				return err
			}
			return runSaved(c.Context, e, o, q)
		},
	}
}

func runSaved(ctx context.Context, e *env, o runOptions, q queries.Query) error {
	values, err := parseParams(o.Params)
	if err != nil {
		return err
	}
	if o.From != "" {
		if !slices.ContainsFunc(q.Params, func(p queries.Param) bool { return p.Name == queries.CandidatesParam }) {
			return usageError{fmt.Sprintf("query %q takes no candidate list (it has no :%s parameter)", q.Name, queries.CandidatesParam)}
		}
		if _, set := values[queries.CandidatesParam]; set {
			return usageError{"give the candidate list with --from or -p candidates=..., not both"}
		}
		cands, err := readCandidateFile(e.stdin, o.From)
		if err != nil {
			return err
		}
		values[queries.CandidatesParam] = queries.CandidatesJSON(cands)
	}
	bound, err := q.Bind(values)
	if err != nil {
		return usageError{err.Error()}
	}
	db, err := index.Open(ctx, o.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	rs, err := db.Query(ctx, q.SQL, bound)
	if err != nil {
		return fmt.Errorf("run %q: %w", q.Name, err)
	}
	defer rs.Close()
	if q.Kind == queries.KindCandidates {
		if err := checkCandidateColumns(q.Name, rs.Columns()); err != nil {
			return err
		}
	}
	_, err = render(e.stdout, o.Output, rs)
	return err
}

// readCandidateFile reads a candidate list from a file or standard input,
// detecting its format from the name and first bytes.
func readCandidateFile(stdin io.Reader, path string) ([]queries.Candidate, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read candidate list: %w", err)
	}
	format, err := queries.DetectFormat(path, b)
	if err != nil {
		return nil, fmt.Errorf("read candidate list %q: %w", path, err)
	}
	cands, err := queries.ReadCandidates(bytes.NewReader(b), format)
	if err != nil {
		return nil, fmt.Errorf("read candidate list %q: %w", path, err)
	}
	return cands, nil
}

// checkCandidateColumns makes sure a candidates query returns what the
// deleter reads, so that a broken user query fails here, not at delete time.
func checkCandidateColumns(name string, cols []string) error {
	has := func(c string) bool { return slices.Contains(cols, c) }
	if !has("repo") || (!has("tag") && !has("digest")) {
		return fmt.Errorf("query %q is of kind candidates but returns columns %s: it needs repo and tag and/or digest (see docs/candidates.md)",
			name, strings.Join(cols, ", "))
	}
	return nil
}
