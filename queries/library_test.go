package queries

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func sqlFile(name, body string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("-- name: " + name + "\n-- description: " + body + "\nSELECT '" + body + "';\n")}
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	builtin := fstest.MapFS{
		"a.sql":        sqlFile("a", "builtin a"),
		"b.sql":        sqlFile("b", "builtin b"),
		"README.md":    &fstest.MapFile{Data: []byte("not a query")},
		"sub/c.sql":    sqlFile("c", "not read: in a subdirectory"),
		"notes.sql.gz": &fstest.MapFile{Data: []byte{0x1f, 0x8b}},
	}
	team := t.TempDir()
	writeFile(t, team, "b.sql", "-- name: b\n-- description: team b\nSELECT 2;\n")
	writeFile(t, team, "d.sql", "-- name: d\n-- description: team d\nSELECT 3;\n")
	mine := t.TempDir()
	writeFile(t, mine, "d.sql", "-- name: d\n-- description: my d\nSELECT 4;\n")

	lib, err := Load(builtin, team, mine)
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	var got []string
	for _, q := range lib.List() {
		got = append(got, q.Name+"="+q.Description)
	}
	want := []string{"a=builtin a", "b=team b", "d=my d"}
	if !slices.Equal(got, want) {
		t.Errorf("List() = %q, want %q", got, want)
	}

	tests := []struct {
		name          string
		query         string
		wantSource    string
		wantOverrides string
	}{
		{name: "builtin", query: "a", wantSource: "builtin/a.sql"},
		{name: "user overrides builtin", query: "b", wantSource: filepath.Join(team, "b.sql"), wantOverrides: "builtin/b.sql"},
		{name: "later directory overrides earlier", query: "d", wantSource: filepath.Join(mine, "d.sql"), wantOverrides: filepath.Join(team, "d.sql")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, ok := lib.Get(tt.query)
			if !ok {
				t.Fatalf("Get(%q) found nothing", tt.query)
			}
			if q.Source != tt.wantSource || q.Overrides != tt.wantOverrides {
				t.Errorf("Get(%q) Source, Overrides = %q, %q, want %q, %q", tt.query, q.Source, q.Overrides, tt.wantSource, tt.wantOverrides)
			}
		})
	}
	if _, ok := lib.Get("c"); ok {
		t.Errorf("Get(%q) found a query from a subdirectory", "c")
	}
}

func TestLoadErrors(t *testing.T) {
	broken := t.TempDir()
	writeFile(t, broken, "bad.sql", "-- name: bad\n-- colour: red\nSELECT 1;\n")
	notDir := filepath.Join(t.TempDir(), "file.sql")
	writeFile(t, filepath.Dir(notDir), "file.sql", "-- name: file\nSELECT 1;\n")

	tests := []struct {
		name     string
		builtin  fstest.MapFS
		dirs     []string
		wantErr  string
		wantHead bool // errors.Is(err, ErrHeader)
	}{
		{name: "broken builtin names the file", builtin: fstest.MapFS{"x.sql": {Data: []byte("-- name: y\nSELECT 1;\n")}}, wantErr: `builtin/x.sql:1: name "y" differs from the file name "x.sql"`, wantHead: true},
		{name: "broken user file names its path", dirs: []string{broken}, wantErr: filepath.Join(broken, "bad.sql") + `:2: unknown header key "colour"`, wantHead: true},
		{name: "missing directory", dirs: []string{filepath.Join(broken, "nope")}, wantErr: "read queries directory: "},
		{name: "a file is not a directory", dirs: []string{notDir}, wantErr: "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.builtin, tt.dirs...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load() error = %v, want one containing %q", err, tt.wantErr)
			}
			if errors.Is(err, ErrHeader) != tt.wantHead {
				t.Errorf("errors.Is(Load() error, ErrHeader) = %v, want %v", !tt.wantHead, tt.wantHead)
			}
		})
	}
}
