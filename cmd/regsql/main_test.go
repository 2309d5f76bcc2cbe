package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = "../../testdata/sample-registry"

// run runs regsql in-process as a user would type it.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	app := newApp(strings.NewReader(stdin), &out, &errb)
	err = app.RunContext(context.Background(), permuteArgs(app, append([]string{"regsql"}, args...)))
	return out.String(), errb.String(), err
}

// indexSample builds an index of the sample registry and returns its path.
func indexSample(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "sample.db")
	_, stderr, err := run(t, "", "index", "--root", sample, "--db", db)
	if err != nil {
		t.Fatalf("index: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "indexed ") {
		t.Errorf("index summary missing from stderr: %q", stderr)
	}
	return db
}

func TestQueryFormats(t *testing.T) {
	db := indexSample(t)
	const q = "SELECT name, listed, NULL AS missing FROM repos WHERE listed ORDER BY name"

	want, _, err := run(t, "", "query", "--db", db, "-o", "tsv", "SELECT name FROM repos WHERE listed ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Split(strings.TrimSpace(want), "\n")[1:]
	if len(names) < 3 {
		t.Fatalf("sample has %d listed repos, want at least 3: %q", len(names), want)
	}

	t.Run("csv", func(t *testing.T) {
		out, _, err := run(t, "", "query", q, "--db", db, "-o", "csv")
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("output is not CSV: %v\n%s", err, out)
		}
		if got := strings.Join(recs[0], ","); got != "name,listed,missing" {
			t.Errorf("header = %q, want name,listed,missing", got)
		}
		if len(recs)-1 != len(names) || recs[1][0] != names[0] || recs[1][2] != "" {
			t.Errorf("rows = %q, want %d rows starting with %q and an empty NULL", recs[1:], len(names), names[0])
		}
	})
	t.Run("json", func(t *testing.T) {
		out, _, err := run(t, "", "query", "--db", db, "-o", "json", q)
		if err != nil {
			t.Fatal(err)
		}
		var got []map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		if len(got) != len(names) || got[0]["name"] != names[0] || got[0]["listed"] != float64(1) || got[0]["missing"] != nil {
			t.Errorf("json = %v, want %d objects starting with name %q, listed 1, missing null", got, len(names), names[0])
		}
	})
	t.Run("jsonl", func(t *testing.T) {
		out, _, err := run(t, "", "query", "--db", db, "-o", "jsonl", q)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != len(names) {
			t.Fatalf("jsonl has %d lines, want %d", len(lines), len(names))
		}
		for _, l := range lines {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Errorf("line %q is not JSON: %v", l, err)
			}
		}
	})
	t.Run("table shows NULL", func(t *testing.T) {
		out, _, err := run(t, "", "query", "--db", db, "-o", "table", q)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "NULL") || !strings.Contains(out, names[0]) || !strings.Contains(out, "rows)") {
			t.Errorf("table lacks NULL, %q or the row count:\n%s", names[0], out)
		}
	})
	t.Run("markdown", func(t *testing.T) {
		out, _, err := run(t, "", "query", "--db", db, "-o", "markdown", q)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "| name") || !strings.Contains(out, "---") {
			t.Errorf("not a markdown table:\n%s", out)
		}
	})
	t.Run("tsv escapes", func(t *testing.T) {
		out, _, err := run(t, "", "query", "--db", db, "-o", "tsv", "SELECT 'a'||char(9)||'b'||char(10)||'c' AS v")
		if err != nil {
			t.Fatal(err)
		}
		if out != "v\na\\tb\\nc\n" {
			t.Errorf("tsv = %q, want %q", out, "v\na\\tb\\nc\n")
		}
	})
	t.Run("sql from stdin and file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "q.sql")
		if err := os.WriteFile(f, []byte("SELECT count(*) AS n FROM repos"), 0o644); err != nil {
			t.Fatal(err)
		}
		fromFile, _, err := run(t, "", "query", "--db", db, "-o", "csv", "@"+f)
		if err != nil {
			t.Fatal(err)
		}
		fromStdin, _, err := run(t, "SELECT count(*) AS n FROM repos", "query", "--db", db, "-o", "csv", "-")
		if err != nil {
			t.Fatal(err)
		}
		if fromFile != fromStdin || !strings.HasPrefix(fromFile, "n\n") {
			t.Errorf("@file gave %q, stdin gave %q", fromFile, fromStdin)
		}
	})
	t.Run("params and now", func(t *testing.T) {
		out, _, err := run(t, "", "query", "--db", db, "-o", "csv", "-p", "days=30", "-p", "now=1000000000",
			"SELECT :now - :days*86400 AS t, 'x' REGEXP '^x$' AS m")
		if err != nil {
			t.Fatal(err)
		}
		if want := "t,m\n997408000,1\n"; out != want {
			t.Errorf("out = %q, want %q", out, want)
		}
	})
}

func TestSchemaCommand(t *testing.T) {
	db := indexSample(t)
	out, _, err := run(t, "", "schema", "--db", db, "-o", "csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"repos", "tags", "tag_history", "revisions", "manifests", "refs", "blobs", "layer_links", "uploads", "problems", "scans", "tagged_manifests", "untagged_revisions"} {
		if !strings.Contains(out, "\n"+name+",") {
			t.Errorf("schema lacks %s:\n%s", name, out)
		}
	}
	out, _, err = run(t, "", "schema", "tags", "--db", db, "-o", "csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range []string{"repo_id", "name", "digest", "pushed_at"} {
		if !strings.Contains(out, "\n"+col+",") {
			t.Errorf("schema tags lacks column %s:\n%s", col, out)
		}
	}
}

func TestErrors(t *testing.T) {
	db := indexSample(t)
	missing := filepath.Join(t.TempDir(), "none.db")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantMsg  string
	}{
		{"unknown flag", []string{"query", "--nope", "SELECT 1"}, exitUsage, "nope"},
		{"unknown format", []string{"query", "--db", db, "-o", "xml", "SELECT 1"}, exitUsage, `"xml"`},
		{"bad param", []string{"query", "--db", db, "-p", "days", "SELECT 1"}, exitUsage, "NAME=VALUE"},
		{"unset param", []string{"query", "--db", db, "SELECT :days"}, exitError, "days"},
		{"bad sql", []string{"query", "--db", db, "SELEC 1"}, exitError, "SELEC"},
		{"write refused", []string{"query", "--db", db, "DELETE FROM tags"}, exitError, ""},
		{"missing db", []string{"query", "--db", missing, "SELECT 1"}, exitError, "regsql index"},
		{"index needs a source", []string{"index", "--db", missing}, exitUsage, "--root"},
		{"index missing root", []string{"index", "--root", "/does/not/exist", "--db", missing}, exitError, "/does/not/exist"},
		{"unknown table", []string{"schema", "nope", "--db", db}, exitUsage, `"nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := run(t, "", tt.args...)
			if err == nil {
				t.Fatalf("regsql %q succeeded, want an error", tt.args)
			}
			if got := exitCode(err); got != tt.wantCode {
				t.Errorf("exit code = %d, want %d (error: %v)", got, tt.wantCode, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error = %q, want it to mention %q", err, tt.wantMsg)
			}
		})
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed index left %s behind", missing)
	}
}

// TestIndexFullOrIncremental runs index over and over on one database and
// checks that each run says what kind it is and why.
func TestIndexFullOrIncremental(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sample.db")
	tests := []struct {
		name  string
		flags []string
		want  []string
	}{
		{name: "no index yet", want: []string{"full build: no index at", "indexed "}},
		{name: "same storage again", want: []string{"incremental: reading only what changed since the scan that started", "updated ("}},
		{name: "asked for a full one", flags: []string{"--full"}, want: []string{"full build: asked for", "indexed "}},
		{name: "verifying", flags: []string{"--verify"}, want: []string{"full build: verifying reads everything"}},
		{name: "after a verifying one", want: []string{"full build: the latest scan was a verifying one"}},
		{name: "incremental again", want: []string{"incremental: "}},
		{name: "quiet", flags: []string{"--quiet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, err := run(t, "", append([]string{"index", "--root", sample, "--db", db}, tt.flags...)...)
			if err != nil {
				t.Fatalf("index: %v\n%s", err, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("index %v stderr = %q, want it to contain %q", tt.flags, stderr, w)
				}
			}
			if len(tt.want) == 0 && stderr != "" {
				t.Errorf("index %v stderr = %q, want nothing", tt.flags, stderr)
			}
		})
	}
}
