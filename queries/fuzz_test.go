package queries

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// FuzzParse feeds headers to Parse. Whatever it accepts must be consistent:
// named after the file, every default valid for its type, every parameter
// bindable.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/header/*/*.sql")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(filepath.Base(p), b)
		}
	}
	f.Add("q.sql", []byte("-- name: q\n-- param: x = 'a''b'  doc\nSELECT :x"))
	f.Fuzz(func(t *testing.T, file string, src []byte) {
		q, err := Parse(file, src)
		if err != nil {
			return
		}
		if q.Name != baseName(file) {
			t.Fatalf("Parse(%q) accepted name %q", file, q.Name)
		}
		if strings.TrimSpace(q.SQL) == "" {
			t.Fatalf("Parse(%q) accepted empty SQL", file)
		}
		values := map[string]string{}
		for _, p := range q.Params {
			if !slices.Contains(paramTypes, p.Type) {
				t.Fatalf("param %q has type %q", p.Name, p.Type)
			}
			if p.Required {
				values[p.Name] = "1" // valid for every type
				continue
			}
			if _, err := convert(p.Type, p.Default); err != nil {
				t.Fatalf("param %q: default %q accepted but %v", p.Name, p.Default, err)
			}
		}
		if _, err := q.Bind(values); err != nil {
			t.Fatalf("Bind() of defaults: %v", err)
		}
	})
}

// FuzzReadCandidates feeds every format arbitrary bytes. Whatever is
// accepted must be valid and survive CandidatesJSON unchanged.
func FuzzReadCandidates(f *testing.F) {
	f.Add("repo,tag,digest,reason,bytes\norg/app,v1,,old,12\n")
	f.Add("digest,repo\n" + d1 + ",a\n")
	f.Add(`[{"repo":"a","tag":"b","bytes":1},{"repo":"a","digest":"` + d2 + `"}]`)
	f.Add(`{"repo":"a","tag":"b"}` + "\n" + `{"repo":"c/d","digest":"` + d1 + `","reason":null}`)
	f.Fuzz(func(t *testing.T, in string) {
		for _, format := range []Format{FormatCSV, FormatJSON, FormatJSONL} {
			cs, err := ReadCandidates(strings.NewReader(in), format)
			if err != nil {
				continue
			}
			for i, c := range cs {
				if err := c.Validate(); err != nil {
					t.Fatalf("%s row %d accepted but invalid: %v", format, i, err)
				}
			}
			back, err := ReadCandidates(strings.NewReader(CandidatesJSON(cs)), FormatJSON)
			if err != nil {
				t.Fatalf("%s: CandidatesJSON() does not read back: %v", format, err)
			}
			if len(cs) > 0 && !reflect.DeepEqual(back, cs) {
				t.Fatalf("%s: round trip = %+v, want %+v", format, back, cs)
			}
		}
	})
}
