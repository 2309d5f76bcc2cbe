package queries

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

const (
	d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func TestReadCandidates(t *testing.T) {
	want := []Candidate{
		{Repo: "org/app", Tag: "v1", Reason: "old", Bytes: 1234},
		{Repo: "org/app", Digest: d1},
		{Repo: "base", Tag: "dev-1", Digest: d2, Reason: "a, comma"},
	}
	tests := []struct {
		name   string
		format Format
		in     string
		want   []Candidate
	}{
		{
			name:   "csv in writer order",
			format: FormatCSV,
			in:     "repo,tag,digest,reason,bytes\norg/app,v1,,old,1234\norg/app,," + d1 + ",,\nbase,dev-1," + d2 + ",\"a, comma\",\n",
			want:   want,
		},
		{
			name:   "csv columns in any order, fewer of them, BOM and CRLF",
			format: FormatCSV,
			in:     "\ufeffdigest,repo,tag\r\n,org/app,v1\r\n" + d1 + ",org/app,\r\n",
			want:   []Candidate{{Repo: "org/app", Tag: "v1"}, {Repo: "org/app", Digest: d1}},
		},
		{name: "csv header only", format: FormatCSV, in: "repo,tag\n", want: nil},
		{
			name:   "json array with nulls",
			format: FormatJSON,
			in: `[
  {"repo": "org/app", "tag": "v1", "digest": null, "reason": "old", "bytes": 1234},
  {"repo": "org/app", "digest": "` + d1 + `", "tag": null, "bytes": null},
  {"repo": "base", "tag": "dev-1", "digest": "` + d2 + `", "reason": "a, comma"}
]`,
			want: want,
		},
		{name: "json empty array", format: FormatJSON, in: " [ ] \n", want: nil},
		{
			name:   "jsonl with blank lines",
			format: FormatJSONL,
			in:     `{"repo":"org/app","tag":"v1","reason":"old","bytes":1234}` + "\n\n" + `{"repo":"org/app","digest":"` + d1 + `"}` + "\r\n" + `{"repo":"base","tag":"dev-1","digest":"` + d2 + `","reason":"a, comma"}`,
			want:   want,
		},
		{name: "jsonl empty", format: FormatJSONL, in: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadCandidates(strings.NewReader(tt.in), tt.format)
			if err != nil {
				t.Fatalf("ReadCandidates() error = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ReadCandidates() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadCandidatesErrors(t *testing.T) {
	tests := []struct {
		name    string
		format  Format
		in      string
		wantErr string
	}{
		{name: "csv empty", format: FormatCSV, in: "", wantErr: "empty CSV: want a header row"},
		{name: "csv unknown column", format: FormatCSV, in: "repo,tag,size\n", wantErr: `line 1: unknown column "size"`},
		{name: "csv duplicate column", format: FormatCSV, in: "repo,tag,tag\n", wantErr: `line 1: duplicate column "tag"`},
		{name: "csv no repo column", format: FormatCSV, in: "tag,digest\n", wantErr: "line 1: no repo column"},
		{name: "csv no tag or digest column", format: FormatCSV, in: "repo,reason\n", wantErr: "line 1: no tag or digest column"},
		{name: "csv missing repo", format: FormatCSV, in: "repo,tag\napp,v1\n,v2\n", wantErr: "line 3: missing repo"},
		{name: "csv neither tag nor digest", format: FormatCSV, in: "repo,tag,digest\napp,,\n", wantErr: "line 2: neither tag nor digest"},
		{name: "csv invalid digest", format: FormatCSV, in: "repo,digest\napp,sha256:abc\n", wantErr: `line 2: digest "sha256:abc"`},
		{name: "csv upper-case digest", format: FormatCSV, in: "repo,digest\napp," + strings.ToUpper(d1) + "\n", wantErr: "line 2: digest"},
		{name: "csv invalid tag", format: FormatCSV, in: "repo,tag\napp,-v1\n", wantErr: `line 2: tag "-v1": not a valid tag`},
		{name: "csv tag too long", format: FormatCSV, in: "repo,tag\napp," + strings.Repeat("a", 129) + "\n", wantErr: "line 2: tag"},
		{name: "csv invalid repo", format: FormatCSV, in: "repo,tag\nOrg/App,v1\n", wantErr: `line 2: repo "Org/App": not a valid repository name`},
		{name: "csv repo with a trailing slash", format: FormatCSV, in: "repo,tag\napp/,v1\n", wantErr: `line 2: repo "app/"`},
		{name: "csv bad bytes", format: FormatCSV, in: "repo,tag,bytes\napp,v1,12MB\n", wantErr: `line 2: bytes "12MB"`},
		{name: "csv negative bytes", format: FormatCSV, in: "repo,tag,bytes\napp,v1,-1\n", wantErr: "line 2: bytes -1: negative"},
		{name: "csv reason not utf-8", format: FormatCSV, in: "repo,tag,reason\napp,v1,\x84\n", wantErr: `line 2: reason "\x84": not UTF-8 text`},
		{name: "csv ragged row", format: FormatCSV, in: "repo,tag\napp,v1,extra\n", wantErr: "wrong number of fields"},
		{name: "json not an array", format: FormatJSON, in: `{"repo":"a","tag":"b"}`, wantErr: "want a JSON array of objects"},
		{name: "json empty", format: FormatJSON, in: "", wantErr: "empty JSON"},
		{name: "json unknown field", format: FormatJSON, in: "[\n{\"repo\":\"a\",\"tag\":\"b\"},\n{\"repo\":\"a\",\"size\":1}]", wantErr: `item 2 (line 3): json: unknown field "size"`},
		{name: "json missing repo", format: FormatJSON, in: "[\n  {\"tag\":\"b\"}\n]", wantErr: "item 1 (line 2): missing repo"},
		{name: "json wrong type", format: FormatJSON, in: `[{"repo":"a","tag":"b","bytes":"12"}]`, wantErr: "item 1 (line 1): json: cannot unmarshal"},
		{name: "json unterminated", format: FormatJSON, in: `[{"repo":"a","tag":"b"}`, wantErr: "unterminated array"},
		{name: "json text after the array", format: FormatJSON, in: `[] []`, wantErr: "text after the array"},
		{name: "jsonl bad line", format: FormatJSONL, in: "{\"repo\":\"a\",\"tag\":\"b\"}\n{\"repo\":\"a\"}\n", wantErr: "line 2: neither tag nor digest"},
		{name: "jsonl two objects on a line", format: FormatJSONL, in: `{"repo":"a","tag":"b"} {"repo":"a","tag":"c"}`, wantErr: "line 1: text after the object"},
		{name: "jsonl not json", format: FormatJSONL, in: "repo,tag\n", wantErr: "line 1: invalid character"},
		{name: "unknown format", format: "xml", in: "", wantErr: `unknown format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCandidates(strings.NewReader(tt.in), tt.format)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ReadCandidates() error = %v, want one containing %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrCandidate) {
				t.Errorf("ReadCandidates() error %v does not wrap ErrCandidate", err)
			}
		})
	}
}

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		head    string
		want    Format
		wantErr bool
	}{
		{name: "array is json", path: "list.txt", head: "  [\n{", want: FormatJSON},
		{name: "object is jsonl", path: "-", head: `{"repo":"a"}`, want: FormatJSONL},
		{name: "jsonl in a .json file", path: "list.json", head: `{"repo":"a"}` + "\n", want: FormatJSONL},
		{name: "header is csv", path: "list", head: "repo,tag\n", want: FormatCSV},
		{name: "csv with a BOM", path: "list.csv", head: "\ufeffrepo,tag\n", want: FormatCSV},
		{name: "empty csv", path: "list.csv", head: "", want: FormatCSV},
		{name: "empty json by extension", path: "list.json", head: "", want: FormatJSON},
		{name: "empty ndjson by extension", path: "list.ndjson", head: "\n", want: FormatJSONL},
		{name: "csv content in a .json file", path: "list.json", head: "repo,tag\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DetectFormat(tt.path, []byte(tt.head))
			if (err != nil) != tt.wantErr {
				t.Fatalf("DetectFormat(%q, %q) error = %v, want error %v", tt.path, tt.head, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("DetectFormat(%q, %q) = %q, want %q", tt.path, tt.head, got, tt.want)
			}
		})
	}
}

func TestCandidatesJSON(t *testing.T) {
	tests := []struct {
		name string
		in   []Candidate
		want string
	}{
		{name: "nil is an empty array", in: nil, want: `[]`},
		{
			name: "absent fields are left out",
			in:   []Candidate{{Repo: "a", Tag: "v1"}, {Repo: "b", Digest: digest.Digest(d1), Reason: "r", Bytes: 5}},
			want: `[{"repo":"a","tag":"v1"},{"repo":"b","digest":"` + d1 + `","reason":"r","bytes":5}]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CandidatesJSON(tt.in)
			if got != tt.want {
				t.Errorf("CandidatesJSON() = %s, want %s", got, tt.want)
			}
			back, err := ReadCandidates(strings.NewReader(got), FormatJSON)
			if err != nil {
				t.Fatalf("ReadCandidates(CandidatesJSON()) error = %v", err)
			}
			if len(back) != len(tt.in) || (len(back) > 0 && !reflect.DeepEqual(back, tt.in)) {
				t.Errorf("ReadCandidates(CandidatesJSON()) = %+v, want %+v", back, tt.in)
			}
		})
	}
	var v any
	if err := json.Unmarshal([]byte(CandidatesJSON(nil)), &v); err != nil {
		t.Errorf("CandidatesJSON(nil) is not JSON: %v", err)
	}
}
