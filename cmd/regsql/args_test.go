package main

import (
	"io"
	"slices"
	"strings"
	"testing"
)

func TestPermuteArgs(t *testing.T) {
	app := newApp(strings.NewReader(""), io.Discard, io.Discard)
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"flags after the SQL", `query SELECT_1 -o json`, `query -o json SELECT_1`},
		{"flags before stay", `query -o json SELECT_1`, `query -o json SELECT_1`},
		{"repeated params", `query Q -p a=1 --param b=2`, `query -p a=1 --param b=2 Q`},
		{"flag with equals", `query Q --output=csv`, `query --output=csv Q`},
		{"bool flag takes no value", `index --quiet --root /r`, `index --quiet --root /r`},
		{"global flag before command", `--help query Q -o csv`, `--help query -o csv Q`},
		{"stdin dash is positional", `query - -o csv`, `query -o csv -`},
		{"double dash ends flags", `query -- -o`, `query -- -o`},
		{"value that looks like a command", `query -o table schema`, `query -o table schema`},
		{"no command", ``, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]string{"regsql"}, strings.Fields(tt.in)...)
			want := append([]string{"regsql"}, strings.Fields(tt.want)...)
			if got := permuteArgs(app, in); !slices.Equal(got, want) {
				t.Errorf("permuteArgs(%q) = %q, want %q", tt.in, got, want)
			}
		})
	}
}
