package main_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/regsql/regsql/"

// layers is the one-way data flow of style.md: storage in → typed records
// (walker) → database (index, migrations) → saved SQL (queries) →
// destructive work (deleter, gc) → the CLI. A package may import only
// packages of its own layer or to its left.
var layers = map[string]int{
	"walker":           0,
	"internal/journal": 0,
	// usage reads the registry's logs and notifications into typed events,
	// as walker reads its storage: outside input in, no SQL.
	"usage":           0,
	"migrations":      1,
	"index":           1,
	"queries":         2,
	"queries/builtin": 2,
	// ingest streams usage's events into the index; it sits above both.
	"ingest": 2,
	// metrics reads the index (and the built-in GC reports) into Prometheus
	// metrics and serves them.
	"metrics":    2,
	"deleter":    3,
	"gc":         3,
	"cmd/regsql": 4,
}

// The sample generator drives the test registry to write testdata; it is a
// development tool, not part of regsql.

// printers are the packages allowed to write to the terminal.
var printers = map[string]bool{"cmd/regsql": true, "cmd/regsql-gen": true, "internal/sample/gen": true,
	// The benchmark harness's programs (make bench).
	"internal/bench/run": true, "internal/bench/gcdry": true, "internal/bench/floor": true, "internal/bench/profile": true}

// testSupport are packages only tests (and the benchmark) import: the
// in-process registry, the harness that captures the registry's GC output
// (it prints to stdout), the S3 server.
var testSupport = map[string]bool{"internal/registrytest": true, "internal/registrygc": true, "internal/s3test": true}

func TestLayers(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "build") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		from, ranked := layers[pkg]
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p == "fmt" || p == "os" {
				continue
			}
			dep, ok := strings.CutPrefix(p, module)
			if !ok {
				continue
			}
			if testSupport[dep] && !testSupport[pkg] && !strings.HasPrefix(pkg, "internal/sample") && !strings.HasPrefix(pkg, "internal/bench") {
				t.Errorf("%s imports %s: it is for tests only", path, dep)
			}
			to, known := layers[dep]
			if ranked && known && to > from {
				t.Errorf("%s (layer %d) imports %s (layer %d): data flows walker → index → queries → deleter/gc → cmd, never back", path, from, dep, to)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLibrariesDoNotPrint keeps printing in the commands: packages return
// data and take a progress or log function.
func TestLibrariesDoNotPrint(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "build") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		if printers[pkg] || testSupport[pkg] {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, bad := range []string{"fmt.Print", "os.Stdout", "os.Stderr", "log.Print", "log.Fatal"} {
				if strings.Contains(line, bad) && !strings.HasPrefix(strings.TrimSpace(line), "//") {
					t.Errorf("%s:%d uses %s: only cmd prints", path, i+1, bad)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
