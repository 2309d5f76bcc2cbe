package queries

import (
	"bufio"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/walker"
)

// largeTables are the tables that grow with the registry: a report that
// reads one of them whole is slow on 100k manifests, one that looks rows up
// through an index is not. repos, repo_usage, uploads and scans are small
// (a row per repository, upload or run), and problems are few (87 on the
// large generated tree); they may be read whole.
var largeTables = []string{
	"tags", "tag_history", "revisions", "manifests", "refs", "blobs", "layer_links",
	"pull_events", "blob_pulls", "push_events",
	"tag_reach", "revision_usage", "gc_blobs", "gc_revisions", "gc_unreached",
}

// fullScans are the reports' reads of a whole large table that are meant:
// report, then table, then why no index serves better.
var fullScans = map[string]map[string]string{
	"dangling-links": {
		"tags":        "merged in digest order with blobs: one pass over each index finds the few links to nothing",
		"tag_history": "merged in digest order with blobs", "revisions": "merged in digest order with blobs",
		"layer_links": "merged in digest order with blobs", "blobs": "merged in digest order with the links",
	},
	"tag-revision-mismatch": {
		"tags": "merged with revisions and tag_history: one pass over each index", "tag_history": "merged with tags and revisions",
		"revisions": "merged with tags and tag_history",
	},
	"large-rarely-shared-layers": {
		"refs":      "ranks every layer: the index of refs by digest, read once in order",
		"manifests": "the manifests no revision names, merged with revisions in digest order",
		"revisions": "merged with manifests in digest order",
	},
	"gc-hazards": {
		"manifests":    "finds the manifests the registry cannot parse, by kind, which no index holds: reads that column only",
		"revisions":    "finds the aliases (digest <> target) from the index of revisions by target",
		"gc_unreached": "the manifests the mark skips: all of them are wanted",
		"gc_revisions": "the revisions the GC deletes: all of them are wanted",
		"gc_blobs":     "the blobs the GC deletes that were written recently: the table is what the GC deletes",
	},
	"unreferenced-blobs":          {"gc_blobs": "the report is the table: every blob the GC deletes"},
	"unreferenced-blobs-untagged": {"gc_blobs": "the report is the table: every blob the GC deletes"},
	"not-pulled-since": {
		"pull_events": "every pull by name or digest counts for a tag (and an EXISTS reads one row to skip them all when there is none)",
		"blob_pulls":  "every config GET counts for a tag (and an EXISTS reads one row to skip them all when there is none)",
	},
	"pull-frequency": {
		"pull_events": "groups the pulls by repository and reference in the order of pull_events_reference, which needs no sort",
	},
	"untagged-manifests": {
		"revision_usage": "every revision no tag reaches and no index lists is a candidate",
	},
	"referrers": {"revision_usage": "every revision with a subject is a row"},
	"reclaimable": {
		"gc_blobs": "the blobs the GC frees whatever the list: the table's rows swept by default",
		"blobs":    "an EXISTS reads one row: whether the index knows any blob, else the blob counts are unknown",
	},
}

// TestReportPlans checks that no built-in report reads a large table
// whole where an index could serve (fullScans lists the reads that are
// meant). The index is the sample registry's, given the table statistics
// of the ~100k-manifest generated tree (testdata/large-tree-stat1.tsv, the
// sqlite_stat1 that ANALYZE wrote there), so that SQLite plans each report
// as it would on that tree.
//
// EXPLAIN QUERY PLAN says "SCAN" for a whole read but names the table by
// its alias, which the reports reuse; the program EXPLAIN shows opens each
// table or index by its root page and starts a whole read of it with
// Rewind, which names it without doubt. Temporary tables (materialized
// CTEs, automatic indexes) are opened otherwise and are not counted.
func TestReportPlans(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regsql.db")
	root := filepath.Join("..", "testdata", "sample-registry")
	st, err := walker.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := index.Build(ctx, path, st, index.BuildOptions{Root: root, Driver: "filesystem", Version: "test"}); err != nil {
		t.Fatalf("index.Build() error = %v", err)
	}
	setStats(t, path, filepath.Join("testdata", "large-tree-stat1.tsv"))
	db, err := index.Open(ctx, path)
	if err != nil {
		t.Fatalf("index.Open() error = %v", err)
	}
	defer db.Close()
	tables := map[int64]string{} // root page to table
	for _, r := range explainRows(t, db, `SELECT rootpage, tbl_name FROM sqlite_schema WHERE rootpage > 0`, nil) {
		tables[r[0].(int64)] = r[1].(string)
	}

	for _, q := range builtins(t).List() {
		t.Run(q.Name, func(t *testing.T) {
			params := map[string]string{}
			for _, p := range q.Params {
				if p.Required {
					params[p.Name] = "x"
				}
			}
			bound, err := q.Bind(params)
			if err != nil {
				t.Fatalf("Bind() error = %v", err)
			}
			bound[NowParam] = "2000000000"
			opened := map[int64]string{} // cursor to table
			read := map[string]bool{}
			for _, r := range explainRows(t, db, "EXPLAIN "+q.SQL, bound) {
				op, cursor := r[1].(string), r[2].(int64)
				switch op {
				case "OpenRead", "ReopenIdx":
					opened[cursor] = tables[r[3].(int64)]
				case "Rewind":
					if table, ok := opened[cursor]; ok && isLarge(table) {
						read[table] = true
					}
				}
			}
			for table := range read {
				if _, meant := fullScans[q.Name][table]; !meant {
					t.Errorf("the program reads all of %s; use an index, or say in fullScans why not", table)
				}
			}
			for table := range fullScans[q.Name] {
				if !read[table] {
					t.Errorf("fullScans says the report reads all of %s, and it does not: drop the entry", table)
				}
			}
		})
	}
}

// explainRows runs q and returns its rows.
func explainRows(t *testing.T, db *index.DB, q string, params map[string]string) [][]any {
	t.Helper()
	rows, err := db.Query(context.Background(), q, params)
	if err != nil {
		t.Fatalf("%.40s: %v", q, err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		out = append(out, rows.Values())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func isLarge(table string) bool {
	for _, l := range largeTables {
		if l == table {
			return true
		}
	}
	return false
}

// setStats replaces the statistics of the index at path with those in
// file (tab-separated tbl, idx, stat: sqlite_stat1's columns).
func setStats(t *testing.T, path, file string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`DELETE FROM sqlite_stat1`, `DELETE FROM sqlite_stat4`} {
		if _, err := db.Exec(q); err != nil && !strings.Contains(err.Error(), "no such table") {
			t.Fatalf("%s: %v", q, err)
		}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "\t")
		if len(parts) != 3 {
			t.Fatalf("%s: line %q is not tbl, idx, stat", file, sc.Text())
		}
		var idx any = parts[1]
		if parts[1] == "" {
			idx = nil
		}
		if _, err := db.Exec(`INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)`, parts[0], idx, parts[2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}
