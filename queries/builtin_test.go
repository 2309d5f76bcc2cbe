package queries

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/index"
)

// sampleIndex indexes testdata/sample-registry once per test that asks.
func sampleIndex(t *testing.T) *index.DB {
	t.Helper()
	return buildIndex(t, filepath.Join("..", "testdata", "sample-registry"), "filesystem")
}

// requiredValues are values for the built-ins' parameters without a default.
var requiredValues = map[string]map[string]string{
	"tags-matching": {"pattern": "^v"},
}

// candidates turns the rows of a candidates query into candidates,
// checking that it has exactly the candidate columns.
func candidates(t *testing.T, rows []row) []Candidate {
	t.Helper()
	var out []Candidate
	for i, r := range rows {
		if len(r) != len(CandidateColumns) {
			t.Fatalf("row %d has columns %v, want %v", i, slices.Sorted(mapKeys(r)), CandidateColumns)
		}
		c := Candidate{Repo: str(r["repo"]), Tag: str(r["tag"]), Digest: digest.Digest(str(r["digest"])), Reason: str(r["reason"])}
		n, ok := r["bytes"].(int64)
		if !ok {
			t.Fatalf("row %d: bytes = %#v, want an integer", i, r["bytes"])
		}
		c.Bytes = n
		if err := c.Validate(); err != nil {
			t.Errorf("row %d %+v: %v", i, c, err)
		}
		out = append(out, c)
	}
	return out
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func mapKeys(r row) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range r {
			if !yield(k) {
				return
			}
		}
	}
}

// TestBuiltinsRun runs every built-in report with its defaults on the
// sample registry: each parses, documents itself, runs, and a candidates
// report returns exactly the candidate columns with valid rows.
func TestBuiltinsRun(t *testing.T) {
	db := sampleIndex(t)
	lib := builtins(t)
	for _, q := range lib.List() {
		t.Run(q.Name, func(t *testing.T) {
			if q.Description == "" {
				t.Errorf("%s has no description", q.Name)
			}
			for _, p := range q.Params {
				if p.Doc == "" {
					t.Errorf("%s: param %q has no doc", q.Name, p.Name)
				}
			}
			rows := runReport(t, db, q.Name, requiredValues[q.Name])
			if q.Kind == KindCandidates {
				candidates(t, rows)
			}
			if strings.Contains(q.SQL, "\t") {
				t.Errorf("%s: indent with spaces", q.Name)
			}
		})
	}
}

// TestBuiltinList pins the set of built-in reports that docs/queries.md
// documents.
func TestBuiltinList(t *testing.T) {
	var got []string
	for _, q := range builtins(t).List() {
		got = append(got, q.Name)
	}
	want := []string{
		"dangling-links", "gc-hazards", "large-rarely-shared-layers", "not-pulled-since", "old-tags", "problems",
		"pull-frequency", "reclaimable", "referrers", "repo-usage", "stale-uploads", "tag-revision-mismatch",
		"tags-matching", "unreferenced-blobs", "unreferenced-blobs-untagged",
		"unreferenced-manifests-untagged", "untagged-manifests",
	}
	if !slices.Equal(got, want) {
		t.Errorf("built-ins = %q, want %q", got, want)
	}
}
