package queries

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{name: "plain seconds", in: "3600", want: 3600},
		{name: "zero", in: "0", want: 0},
		{name: "seconds unit", in: "45s", want: 45},
		{name: "minutes", in: "90m", want: 5400},
		{name: "hours", in: "12h", want: 43200},
		{name: "days", in: "30d", want: 30 * 86400},
		{name: "weeks", in: "2w", want: 14 * 86400},
		{name: "combined", in: "1w2d3h4m5s", want: 9*86400 + 3*3600 + 4*60 + 5},
		{name: "go style", in: "1h30m", want: 5400},
		{name: "negative", in: "-5", wantErr: true},
		{name: "months are ambiguous", in: "3mo", wantErr: true},
		{name: "years are ambiguous", in: "1y", wantErr: true},
		{name: "space", in: "30 d", wantErr: true},
		{name: "upper case unit", in: "30D", wantErr: true},
		{name: "fraction", in: "1.5h", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "overflow", in: "99999999999999999w", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseDuration(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseDuration(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{name: "plain bytes", in: "1048576", want: 1 << 20},
		{name: "bytes unit", in: "12B", want: 12},
		{name: "decimal KB", in: "1KB", want: 1000},
		{name: "decimal MB", in: "500MB", want: 500_000_000},
		{name: "decimal GB", in: "2GB", want: 2_000_000_000},
		{name: "decimal TB", in: "1TB", want: 1_000_000_000_000},
		{name: "binary KiB", in: "1KiB", want: 1024},
		{name: "binary MiB", in: "3MiB", want: 3 << 20},
		{name: "binary GiB", in: "1GiB", want: 1 << 30},
		{name: "binary TiB", in: "1TiB", want: 1 << 40},
		{name: "case-insensitive", in: "500mb", want: 500_000_000},
		{name: "space before unit", in: "2 GiB", want: 2 << 30},
		{name: "fraction exact", in: "0.3GB", want: 300_000_000},
		{name: "fraction rounds down", in: "1.5B", want: 1},
		{name: "fraction binary", in: "1.5KiB", want: 1536},
		{name: "unknown unit", in: "5XB", wantErr: true},
		{name: "a lower-case b still means bytes", in: "5Mb", want: 5_000_000},
		{name: "negative", in: "-1MB", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "overflow", in: "99999999PB", wantErr: true},
		{name: "unit only", in: "MB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSize(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestInferType(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want ParamType
	}{
		{name: "integer", in: "10", want: TypeInt},
		{name: "negative integer", in: "-1", want: TypeInt},
		{name: "duration", in: "90d", want: TypeDuration},
		{name: "compound duration", in: "1h30m", want: TypeDuration},
		{name: "size", in: "500MB", want: TypeSize},
		{name: "binary size", in: "1.5GiB", want: TypeSize},
		{name: "bytes", in: "1B", want: TypeSize},
		{name: "decimal without unit", in: "1.5", want: TypeString},
		{name: "word", in: "latest", want: TypeString},
		{name: "regex stays a string", in: "^v[0-9]+$", want: TypeString},
		{name: "empty", in: "", want: TypeString},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := InferType(tt.in); got != tt.want {
				t.Errorf("InferType(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestBind(t *testing.T) {
	q, err := Parse("q.sql", []byte(`-- name: q
-- param: keep = 10
-- param: older_than = 90d
-- param: min_size = 1MiB
-- param: protect regex = ^latest$
-- param: repo          required
SELECT :keep, :older_than, :min_size, :protect, :repo, :now;
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      map[string]string
		want    map[string]string
		wantErr string // a substring of the error; "" for none
	}{
		{
			name: "defaults",
			in:   map[string]string{"repo": "app"},
			want: map[string]string{"keep": "10", "older_than": "7776000", "min_size": "1048576", "protect": "^latest$", "repo": "app"},
		},
		{
			name: "given values are converted",
			in:   map[string]string{"repo": "app", "keep": "5", "older_than": "30d", "min_size": "2KB", "protect": "^v1"},
			want: map[string]string{"keep": "5", "older_than": "2592000", "min_size": "2000", "protect": "^v1", "repo": "app"},
		},
		{
			name: "now passes through",
			in:   map[string]string{"repo": "app", "now": "1700000000"},
			want: map[string]string{"keep": "10", "older_than": "7776000", "min_size": "1048576", "protect": "^latest$", "repo": "app", "now": "1700000000"},
		},
		{name: "unknown name lists the known", in: map[string]string{"repo": "a", "kep": "1"}, wantErr: `query "q" has no parameter "kep" (its parameters: keep, older_than, min_size, protect, repo)`},
		{name: "missing required", in: map[string]string{}, wantErr: `needs -p repo=VALUE`},
		{name: "bad int", in: map[string]string{"repo": "a", "keep": "five"}, wantErr: `-p keep: int "five"`},
		{name: "bad duration", in: map[string]string{"repo": "a", "older_than": "3mo"}, wantErr: `-p older_than: duration "3mo"`},
		{name: "bad size", in: map[string]string{"repo": "a", "min_size": "lots"}, wantErr: `-p min_size: size "lots"`},
		{name: "bad regex", in: map[string]string{"repo": "a", "protect": "("}, wantErr: `-p protect: regex "("`},
		{name: "bad now", in: map[string]string{"repo": "a", "now": "today"}, wantErr: `now="today"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := q.Bind(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrParam) {
					t.Fatalf("Bind() error = %v, want one containing %q wrapping ErrParam", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Bind() error = %v", err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("Bind() = %v, want %v", got, tt.want)
			}
		})
	}
}
