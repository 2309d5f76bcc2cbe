package queries

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/internal/registrytest"
)

// cookbookRE finds the saved queries in docs/cookbook.md: fenced sql
// blocks that start with a header.
var cookbookRE = regexp.MustCompile("(?s)```sql\n(-- name: ([a-z0-9-]+)\n.*?)```")

// cookbook parses every recipe in docs/cookbook.md.
func cookbook(t *testing.T) map[string]Query {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "cookbook.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Query{}
	for _, m := range cookbookRE.FindAllSubmatch(doc, -1) {
		name := string(m[2])
		q, err := Parse(name+".sql", m[1])
		if err != nil {
			t.Fatalf("cookbook recipe %s: %v", name, err)
		}
		out[name] = q
	}
	return out
}

// runQuery binds params to q and runs it on db.
func runQuery(t *testing.T, db *index.DB, q Query, params map[string]string) []row {
	t.Helper()
	bound, err := q.Bind(params)
	if err != nil {
		t.Fatalf("%s: Bind() error = %v", q.Name, err)
	}
	return runSQL(t, db, q.SQL, bound)
}

// TestCookbook runs every recipe of docs/cookbook.md on the sample registry
// and checks what each answers.
func TestCookbook(t *testing.T) {
	recipes := cookbook(t)
	var names []string
	for n := range recipes {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"keep-last-n", "keep-recent", "largest-repos", "lifecycle", "shared-layers", "untagged-safe"}
	if !slices.Equal(names, want) {
		t.Fatalf("cookbook recipes = %v, want %v", names, want)
	}
	db := sampleIndex(t)
	count := func(sql string) int64 {
		return runSQL(t, db, sql, nil)[0]["n"].(int64)
	}
	run := func(name string, params map[string]string) []row {
		t.Helper()
		q := recipes[name]
		rows := runQuery(t, db, q, params)
		if q.Kind == KindCandidates {
			candidates(t, rows)
		}
		return rows
	}

	t.Run("keep-last-n", func(t *testing.T) {
		got := len(run("keep-last-n", map[string]string{"keep": "3"}))
		want := count("SELECT coalesce(sum(max(n - 3, 0)), 0) AS n FROM (SELECT count(*) AS n FROM tags GROUP BY repo_id)")
		if int64(got) != want || got == 0 {
			t.Errorf("keep-last-n keep=3: %d rows, want %d (and some)", got, want)
		}
	})
	t.Run("keep-recent", func(t *testing.T) {
		// At testNow, years after any push, everything is old.
		got := len(run("keep-recent", nil))
		want := count("SELECT (SELECT count(*) FROM tags) + (SELECT count(*) FROM untagged_revisions) AS n")
		if int64(got) != want {
			t.Errorf("keep-recent: %d rows, want every tag and untagged revision, %d", got, want)
		}
		recent := len(run("keep-recent", map[string]string{"within": "100000w"}))
		if recent != 0 {
			t.Errorf("keep-recent within=100000w: %d rows, want none", recent)
		}
	})
	t.Run("lifecycle", func(t *testing.T) {
		if got := run("lifecycle", nil); len(got) != 0 {
			t.Errorf("lifecycle on the sample (no dev, test or pre-release tags) = %v, want nothing", rowKeys(got))
		}
	})
	t.Run("untagged-safe", func(t *testing.T) {
		// The sample's README: the untagged revisions, less the SBOM of team/api:v1.1.0.
		var got []string
		for _, r := range run("untagged-safe", nil) {
			got = append(got, str(r["repo"])+"@"+str(r["digest"])[:15])
		}
		want := []string{"team/api/worker@sha256:b0fbf5ac", "team/api@sha256:03a6ce04", "team/api@sha256:d32bcb68"}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("untagged-safe = %v, want %v", got, want)
		}
	})
	t.Run("largest-repos", func(t *testing.T) {
		got := run("largest-repos", map[string]string{"limit": "2"})
		if len(got) != 2 || got[0]["repo"] != "team/api" {
			t.Errorf("largest-repos limit=2 = %v, want team/api first", got)
		}
	})
	t.Run("shared-layers", func(t *testing.T) {
		got := run("shared-layers", nil)
		if len(got) == 0 || !strings.HasPrefix(str(got[0]["digest"]), "sha256:a21ec5e3") {
			t.Errorf("shared-layers = %v, want the sample's base layer a21ec5e3… first", got)
		}
	})
}

// TestCookbookLifecycle runs the lifecycle recipe on a registry with every
// class of tag.
func TestCookbookLifecycle(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	tags := map[string]int{"dev-old": 40, "dev-new": 5, "v1.0.0": 400, "latest": 400, "main": 300}
	for i := 1; i <= 7; i++ {
		tags[fmt.Sprintf("test-%d", i)] = 10 - i // test-7 is the newest
	}
	for i := 1; i <= 5; i++ {
		tags[fmt.Sprintf("v1.1.0-rc%d", i)] = 100 - i
	}
	var seed int64 = 1200
	for tag := range tags {
		seed++
		s.Push("life", tag, image(seed))
	}
	for tag, days := range tags {
		setTagTime(t, reg, "life", tag, daysAgo(days))
	}
	db := buildIndex(t, reg.Root(), "filesystem")

	var got []string
	for _, r := range runQuery(t, db, cookbook(t)["lifecycle"], nil) {
		got = append(got, str(r["tag"]))
	}
	slices.Sort(got)
	want := []string{"dev-old", "test-1", "test-2", "v1.1.0-rc1", "v1.1.0-rc2"}
	if !slices.Equal(got, want) {
		t.Errorf("lifecycle = %v, want %v", got, want)
	}
}

// TestDocsListBuiltins keeps docs/queries.md in step with the built-ins:
// a section per report naming each of its parameters.
func TestDocsListBuiltins(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "queries.md"))
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{}
	parts := strings.Split(string(doc), "\n### ")
	for _, p := range parts[1:] {
		name, body, _ := strings.Cut(p, "\n")
		sections[name] = body
	}
	for _, q := range builtins(t).List() {
		body, ok := sections[q.Name]
		if !ok {
			t.Errorf("docs/queries.md has no section \"### %s\"", q.Name)
			continue
		}
		for _, p := range q.Params {
			if !strings.Contains(body, "`"+p.Name+"`") {
				t.Errorf("docs/queries.md, section %s, does not document parameter %s", q.Name, p.Name)
			}
		}
	}
}
