package index

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/schema.md from schema_docs")

func TestSchema(t *testing.T) {
	db := sharedDB(t)
	objs, err := db.Schema(t.Context())
	if err != nil {
		t.Fatalf("Schema() error = %v", err)
	}
	var names []string
	seenView := false
	for _, o := range objs {
		names = append(names, o.Name)
		switch o.Type {
		case "table":
			if seenView {
				t.Errorf("Schema() lists table %s after a view, want tables first", o.Name)
			}
		case "view":
			seenView = true
		default:
			t.Errorf("Schema() object %s has type %q, want table or view", o.Name, o.Type)
		}
		if o.Doc == "" {
			t.Errorf("Schema() object %s has no doc", o.Name)
		}
		if len(o.Columns) == 0 {
			t.Errorf("Schema() object %s has no columns", o.Name)
		}
		for _, c := range o.Columns {
			if c.Doc == "" {
				t.Errorf("Schema() column %s.%s has no doc", o.Name, c.Name)
			}
		}
	}
	got := strings.Join(names, " ")
	want := "repos tags tag_history revisions manifests refs blobs layer_links uploads problems scans " +
		"usage_sources pull_events blob_pulls push_events " +
		"tag_reach revision_usage repo_usage gc_blobs gc_revisions gc_unreached " +
		"repo_blobs blob_usage pulls manifest_pulls usage_coverage " +
		"tagged_manifests untagged_revisions tag_pulls" // 00006 redefines these three
	if got != want {
		t.Errorf("Schema() names = %s, want %s", got, want)
	}
	if c := objs[0].Columns[0]; c.Name != "id" || c.Type != "INTEGER" {
		t.Errorf("Schema() first column = %+v, want repos.id INTEGER", c)
	}
}

// schemaExamples are the queries docs/schema.md shows. The test runs each
// one, so that the documentation never shows SQL that fails.
var schemaExamples = []struct{ title, sql string }{
	{"Tags not pushed for 90 days, oldest first",
		`SELECT r.name AS repo, t.name AS tag, datetime(t.pushed_at, 'unixepoch') AS pushed
  FROM tags t JOIN repos r ON r.id = t.repo_id
 WHERE t.pushed_at < :now - 90*86400
 ORDER BY t.pushed_at`},
	{"An annotation from the raw manifest body",
		`SELECT digest, json_extract(body, '$.annotations."org.opencontainers.image.source"') AS source
  FROM manifests
 WHERE kind = 'image'`},
	{"Every layer of every image, from the body (refs holds the same edges)",
		`SELECT m.digest, json_extract(l.value, '$.digest') AS layer, json_extract(l.value, '$.size') AS size
  FROM manifests m, json_each(m.body, '$.layers') l
 WHERE m.kind = 'image'`},
	{"A label of the image config",
		`SELECT digest, os, arch, json_extract(labels, '$."org.opencontainers.image.version"') AS version
  FROM manifests
 WHERE labels IS NOT NULL`},
	{"Untagged revisions that GC --delete-untagged would remove, with their size",
		`SELECT r.name AS repo, u.digest, m.total_size
  FROM untagged_revisions u
  JOIN repos r ON r.id = u.repo_id
  JOIN revisions v ON v.repo_id = u.repo_id AND v.digest = u.digest
  LEFT JOIN manifests m ON m.digest = v.target
 WHERE NOT u.gc_marked
 ORDER BY m.total_size DESC`},
	{"Signatures and SBOMs of each manifest (OCI referrers)",
		`SELECT subject_digest, artifact_type, digest FROM manifests WHERE subject_digest IS NOT NULL`},
	{"Repositories whose tags match a pattern (Go regular expressions)",
		`SELECT DISTINCT r.name FROM tags t JOIN repos r ON r.id = t.repo_id WHERE t.name REGEXP '^v[0-9]+\.[0-9]+'`},
}

func TestSchemaExamples(t *testing.T) {
	db := sharedDB(t)
	for _, ex := range schemaExamples {
		t.Run(ex.title, func(t *testing.T) {
			if rows := queryRows(t, db, ex.sql, nil); len(rows) == 0 && !strings.Contains(ex.sql, "REGEXP") {
				t.Errorf("Query(%q) returned no rows on the test scenario, want some", ex.sql)
			}
		})
	}
}

// TestSchemaDoc keeps docs/schema.md equal to what schema_docs says. Run
// "go test ./index -run TestSchemaDoc -update" after changing a migration.
func TestSchemaDoc(t *testing.T) {
	db := sharedDB(t)
	objs, err := db.Schema(t.Context())
	if err != nil {
		t.Fatalf("Schema() error = %v", err)
	}
	got := schemaMarkdown(objs)
	path := filepath.Join("..", "docs", "schema.md")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v (create it with: go test ./index -run TestSchemaDoc -update)", path, err)
	}
	if got != string(want) {
		t.Errorf("%s is not what schema_docs says: run go test ./index -run TestSchemaDoc -update", path)
	}
}

const schemaIntro = `# The regsql database

<!-- Generated from the schema_docs table by
     go test ./index -run TestSchemaDoc -update. Do not edit by hand:
     edit the docs in migrations/ instead. -->

` + "`regsql index`" + ` writes one SQLite database per scan of a registry's storage;
` + "`regsql query`" + ` runs SQL on it, read-only. ` + "`regsql schema`" + ` prints what follows.

- **Times** are unix seconds (UTC). regsql binds ` + "`:now`" + ` to the current time,
  so ` + "`pushed_at < :now - 30*86400`" + ` means "more than 30 days ago", and
  ` + "`datetime(pushed_at, 'unixepoch')`" + ` shows a time. A time is NULL when the
  storage gave none, so an age test never picks it by accident.
- **Digests** are text, ` + "`<alg>:<hex>`" + ` (` + "`sha256:4f1c…`" + `), exactly as the registry
  writes them. ` + "`substr(digest, 8, 12)`" + ` gives a short sha256 form.
- **Manifest bodies** are kept whole in ` + "`manifests.body`" + ` as JSON text: anything
  the columns leave out is one ` + "`json_extract`" + ` away.
- **Parameters**: ` + "`:name`" + ` in the SQL is bound from ` + "`-p name=VALUE`" + `.
  ` + "`x REGEXP 'pattern'`" + ` matches Go regular expressions.
- Tables hold what the storage holds, anomalies included (a tag whose digest
  is no revision stays in ` + "`tags`" + `, and ` + "`problems`" + ` says why); views
  answer the registry's own questions (what tags reach, what GC keeps).
`

func schemaMarkdown(objs []Object) string {
	var b strings.Builder
	b.WriteString(schemaIntro)
	b.WriteString("\n## Examples\n")
	for _, ex := range schemaExamples {
		fmt.Fprintf(&b, "\n%s:\n\n```sql\n%s;\n```\n", ex.title, ex.sql)
	}
	for _, kind := range []struct{ typ, title string }{{"table", "Tables"}, {"view", "Views"}} {
		fmt.Fprintf(&b, "\n## %s\n\n| %s | what it holds |\n|---|---|\n", kind.title, kind.typ)
		for _, o := range objs {
			if o.Type == kind.typ {
				fmt.Fprintf(&b, "| [`%s`](#%s) | %s |\n", o.Name, o.Name, cell(o.Doc))
			}
		}
		for _, o := range objs {
			if o.Type != kind.typ {
				continue
			}
			fmt.Fprintf(&b, "\n### %s\n\n%s\n\n| column | type | doc |\n|---|---|---|\n", o.Name, text(o.Doc))
			for _, c := range o.Columns {
				fmt.Fprintf(&b, "| `%s` | %s | %s |\n", c.Name, c.Type, cell(c.Doc))
			}
		}
	}
	return b.String()
}

// text escapes a doc for markdown, where <alg> would read as an HTML tag.
func text(s string) string {
	return strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(s)
}

// cell escapes a doc for a markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(text(s), "|", `\|`)
}
