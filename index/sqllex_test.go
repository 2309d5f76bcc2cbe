package index

import (
	"reflect"
	"strings"
	"testing"
)

func TestParamNames(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{name: "none", query: "SELECT 1", want: nil},
		{name: "one", query: "SELECT * FROM tags WHERE pushed_at < :now", want: []string{"now"}},
		{name: "order of first use, once each", query: "SELECT :b, :a, :b, :a_1", want: []string{"b", "a", "a_1"}},
		{name: "next to operators", query: "SELECT :now-:days*86400,(:x)", want: []string{"now", "days", "x"}},
		{name: "in a string", query: "SELECT ':no' || 'it''s :still no' || :yes", want: []string{"yes"}},
		{name: "in quoted identifiers", query: "SELECT \":no\", `:no`, [:no], :yes", want: []string{"yes"}},
		{name: "in a line comment", query: "SELECT :a -- :no\n, :b", want: []string{"a", "b"}},
		{name: "in a block comment", query: "SELECT /* :no\n :no */ :a", want: []string{"a"}},
		{name: "cast", query: "SELECT x::int, :a", want: []string{"a"}},
		{name: "json path in a string", query: "SELECT json_extract(body, '$.config.Labels.\"a:b\"') FROM manifests WHERE digest = :d", want: []string{"d"}},
		{name: "unclosed string", query: "SELECT ':no", want: nil},
		{name: "unclosed comment", query: "SELECT :a /* :no", want: []string{"a"}},
		{name: "lone colon", query: "SELECT : FROM x", want: nil},
		{name: "across statements", query: "SELECT :a; SELECT :b", want: []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParamNames(tt.query); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParamNames(%q) = %q, want %q", tt.query, got, tt.want)
			}
		})
	}
}

func TestStatements(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{name: "one", query: "SELECT 1", want: []string{"SELECT 1"}},
		{name: "trailing semicolon", query: "SELECT 1;", want: []string{"SELECT 1"}},
		{name: "trailing comment", query: "SELECT 1; -- done", want: []string{"SELECT 1"}},
		{name: "semicolon in a string", query: "SELECT ';'", want: []string{"SELECT ';'"}},
		{name: "semicolon in a comment", query: "SELECT 1 /* ; */", want: []string{"SELECT 1 /* ; */"}},
		{name: "two", query: "SELECT 1; SELECT 2", want: []string{"SELECT 1", " SELECT 2"}},
		{name: "only comments", query: "-- nothing\n/* at all */ ;;", want: nil},
		{name: "empty", query: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lexSQL(tt.query).statements; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("lexSQL(%q).statements = %q, want %q", tt.query, got, tt.want)
			}
		})
	}
}

// FuzzParamNames checks that the lexer never panics and that what it finds
// is consistent: every name is a non-empty run of name characters that
// occurs after a colon in the text, and the statements are pieces of it.
func FuzzParamNames(f *testing.F) {
	for _, s := range []string{
		"SELECT :a", "SELECT ':a'", "SELECT x::int", "SELECT 1; SELECT :b -- :c", "/* :d", "[:e]", "`:f`", "\":g\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lx := lexSQL(s)
		for _, p := range lx.params {
			if p == "" || strings.IndexFunc(p, func(r rune) bool { return r > 127 || !isParamChar(byte(r)) }) >= 0 {
				t.Errorf("lexSQL(%q) found parameter %q", s, p)
			}
			if !strings.Contains(s, ":"+p) {
				t.Errorf("lexSQL(%q) found parameter %q, which the text does not hold", s, p)
			}
		}
		for _, st := range lx.statements {
			if !strings.Contains(s, st) {
				t.Errorf("lexSQL(%q) found statement %q, which the text does not hold", s, st)
			}
		}
	})
}
