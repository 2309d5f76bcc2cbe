package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestQueriesCommand(t *testing.T) {
	out, _, err := run(t, "", "queries", "-o", "csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"old-tags", "unreferenced-blobs", "reclaimable", "repo-usage"} {
		if !strings.Contains(out, "\n"+name+",") {
			t.Errorf("queries lacks %s:\n%s", name, out)
		}
	}
	out, _, err = run(t, "", "queries", "show", "old-tags")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "-- name: old-tags") || !strings.Contains(out, "SELECT") {
		t.Errorf("show old-tags lacks its header or SQL:\n%s", out)
	}
}

func TestUserQueriesOverride(t *testing.T) {
	db := indexSample(t)
	dir := t.TempDir()
	mine := "-- name: repo-usage\n-- description: mine\n\nSELECT 'mine' AS who\n"
	if err := os.WriteFile(filepath.Join(dir, "repo-usage.sql"), []byte(mine), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "", "run", "repo-usage", "--db", db, "--queries", dir, "-o", "csv")
	if err != nil {
		t.Fatal(err)
	}
	if out != "who\nmine\n" {
		t.Errorf("--queries override ran %q, want the user's query", out)
	}
	t.Setenv("REGSQL_QUERIES", dir)
	out, _, err = run(t, "", "run", "repo-usage", "--db", db, "-o", "csv")
	if err != nil || out != "who\nmine\n" {
		t.Errorf("$REGSQL_QUERIES override ran %q, %v, want the user's query", out, err)
	}
}

// TestCandidatesRoundTrip writes a candidate list with run -o csv/json/jsonl
// and reads each back with reclaimable --from: the three formats the
// deleter consumes must agree.
func TestCandidatesRoundTrip(t *testing.T) {
	db := indexSample(t)
	var totals []string
	for _, format := range []string{"csv", "json", "jsonl"} {
		out, _, err := run(t, "", "run", "old-tags", "--db", db, "-p", "keep=0", "-p", "older_than=0", "-p", "protect=^$", "-o", format)
		if err != nil {
			t.Fatalf("run old-tags -o %s: %v", format, err)
		}
		f := filepath.Join(t.TempDir(), "cands."+format)
		if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		rep, _, err := run(t, "", "run", "reclaimable", "--db", db, "--from", f, "-o", "csv")
		if err != nil {
			t.Fatalf("reclaimable --from %s: %v", format, err)
		}
		recs, err := csv.NewReader(strings.NewReader(rep)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r[0] == "total" {
				totals = append(totals, strings.Join(r, ","))
			}
		}
	}
	if len(totals) != 3 || totals[0] != totals[1] || totals[1] != totals[2] {
		t.Fatalf("reclaimable totals per format = %q, want three equal", totals)
	}
	if strings.Contains(totals[0], ",0,0,0,") {
		t.Errorf("reclaimable total %q frees nothing for every tag of the sample", totals[0])
	}
}

func TestRunErrors(t *testing.T) {
	db := indexSample(t)
	bad := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(bad, []byte("repo,tag\nBad Repo,x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	userDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(userDir, "broken.sql"), []byte("-- name: broken\n-- kind: candidates\nSELECT 1 AS x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantMsg  string
	}{
		{"unknown query", []string{"run", "nope", "--db", db}, exitUsage, "old-tags"},
		{"unknown param", []string{"run", "old-tags", "-p", "nope=1", "--db", db}, exitUsage, "keep"},
		{"bad duration", []string{"run", "old-tags", "-p", "older_than=soon", "--db", db}, exitUsage, "older_than"},
		{"from on a query without candidates", []string{"run", "repo-usage", "--from", bad, "--db", db}, exitUsage, "candidate"},
		{"malformed candidate list", []string{"run", "reclaimable", "--from", bad, "--db", db}, exitError, "line 2"},
		{"candidates query without candidate columns", []string{"run", "broken", "--queries", userDir, "--db", db}, exitError, "repo"},
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
}
