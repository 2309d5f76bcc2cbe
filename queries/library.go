package queries

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Library is the saved queries regsql knows: the built-ins, overridden by
// same-named files from user directories.
type Library struct {
	byName map[string]Query
}

// Load reads every *.sql file at the top of builtin, then of each user
// directory in turn; a file replaces a query of the same name loaded before
// it, so a user directory overrides the built-ins and a later directory an
// earlier one. Subdirectories are not read. Any file that does not parse
// fails the load, its error naming the file.
func Load(builtin fs.FS, userDirs ...string) (*Library, error) {
	l := &Library{byName: map[string]Query{}}
	if builtin != nil {
		if err := l.add(builtin, "builtin"); err != nil {
			return nil, err
		}
	}
	for _, dir := range userDirs {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("read queries directory: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("read queries directory %q: not a directory", dir)
		}
		if err := l.add(os.DirFS(dir), dir); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// add loads the *.sql files of fsys; label is how their paths are shown.
func (l *Library) add(fsys fs.FS, label string) error {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return fmt.Errorf("list queries in %q: %w", label, err)
	}
	for _, name := range names {
		source := filepath.Join(label, name)
		if label == "builtin" {
			source = "builtin/" + name
		}
		fi, err := fs.Stat(fsys, name)
		if err != nil {
			return fmt.Errorf("read query file: %w", err)
		}
		if fi.IsDir() {
			continue
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("read query file %q: %w", source, err)
		}
		q, err := Parse(source, src)
		if err != nil {
			return err // a *ParseError naming source
		}
		q.Source = source
		if prev, ok := l.byName[q.Name]; ok {
			q.Overrides = prev.Source
		}
		l.byName[q.Name] = q
	}
	return nil
}

// List returns every query, sorted by name.
func (l *Library) List() []Query {
	qs := make([]Query, 0, len(l.byName))
	for _, q := range l.byName {
		qs = append(qs, q)
	}
	slices.SortFunc(qs, func(a, b Query) int { return strings.Compare(a.Name, b.Name) })
	return qs
}

// Get returns the query called name.
func (l *Library) Get(name string) (Query, bool) {
	q, ok := l.byName[name]
	return q, ok
}
