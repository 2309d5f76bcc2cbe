package queries

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestParseGolden parses the one .sql file in each testdata/header/<behaviour>
// directory and compares the result, or the error, with want.golden there.
func TestParseGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/header/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no golden cases under testdata/header")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
			if err != nil || len(files) != 1 {
				t.Fatalf("want one .sql file in %s, got %v (%v)", dir, files, err)
			}
			src, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			q, err := Parse(filepath.Base(files[0]), src)
			var got string
			if err != nil {
				if !errors.Is(err, ErrHeader) {
					t.Errorf("Parse() error %v does not wrap ErrHeader", err)
				}
				got = "error: " + err.Error() + "\n"
			} else {
				if q.Text != string(src) {
					t.Errorf("Parse() Text = %q, want the file as read", q.Text)
				}
				q.Text = "" // the input, already in the directory
				b, err := json.MarshalIndent(q, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				got = string(b) + "\n"
			}
			wantOK := strings.HasPrefix(filepath.Base(dir), "ok-")
			if wantOK != (err == nil) {
				t.Errorf("Parse() error = %v; a case named %q should %s", err, filepath.Base(dir), map[bool]string{true: "parse", false: "fail"}[wantOK])
			}
			golden := filepath.Join(dir, "want.golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file (run go test -update): %v", err)
			}
			if got != string(want) {
				t.Errorf("Parse() =\n%s\nwant\n%s", got, want)
			}
		})
	}
}
