package queries

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/regsql/regsql/index"
)

// Query is a saved query: its header and its SQL.
type Query struct {
	Name        string
	Description string
	Kind        Kind
	Params      []Param // in header order
	SQL         string  // the text after the header: what runs
	Text        string  // the whole file as read, header included: what "queries show" prints
	// Source names the file the query came from: "builtin/NAME.sql" for an
	// embedded one, else the path in the user's directory.
	Source string
	// Overrides is the Source of the query this one replaced (a built-in or
	// an earlier user directory's file of the same name), "" if none.
	Overrides string
}

// Kind says what shape a query's result has.
type Kind string

// The kinds of saved queries.
const (
	// KindReport is any result; it is the default.
	KindReport Kind = "report"
	// KindCandidates is a candidate list: columns repo, tag, digest, reason
	// and bytes, which "-o csv|json|jsonl" writes and the deleter reads.
	KindCandidates Kind = "candidates"
)

// Param is a parameter a query declares with "-- param:".
type Param struct {
	Name     string
	Type     ParamType
	Default  string // as written in the header; empty when Required
	Required bool   // no default: Bind fails unless a value is given
	Doc      string
}

// ParamType says how a parameter's value is read and bound.
type ParamType string

// The parameter types. Durations and sizes bind as integers (seconds and
// bytes) so that the SQL does plain arithmetic with :now and sizes.
const (
	TypeString   ParamType = "string"   // bound as given
	TypeInt      ParamType = "int"      // a base-10 integer
	TypeDuration ParamType = "duration" // 90d, 12h, 2w, 1h30m, or plain seconds; bound as seconds
	TypeSize     ParamType = "size"     // 500MB, 1.5GiB, or plain bytes; bound as bytes
	TypeRegex    ParamType = "regex"    // a Go regular expression, checked when bound
)

var paramTypes = []ParamType{TypeString, TypeInt, TypeDuration, TypeSize, TypeRegex}

// headerKey is a key of a "-- key: value" header line.
type headerKey string

// The header keys. Any other key is an error, so that a typo is not silently
// taken for a comment.
const (
	keyName        headerKey = "name"
	keyDescription headerKey = "description"
	keyParam       headerKey = "param"
	keyKind        headerKey = "kind"
)

var headerKeys = []headerKey{keyName, keyDescription, keyParam, keyKind}

// NowParam is the parameter regsql always binds to the current unix time. A
// query uses :now without declaring it, and cannot declare it.
const NowParam = "now"

// CandidatesParam is the parameter through which a query receives a
// candidate list as JSON (see CandidatesJSON), e.g. the reclaimable report.
const CandidatesParam = "candidates"

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	paramNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*`)
	keyRE       = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
)

// ParseError is a malformed header, or SQL that disagrees with it. It quotes
// the offending line. It wraps ErrHeader.
type ParseError struct {
	File string // as given to Parse
	Line int    // 1-based; 0 when the error is about the whole file
	Text string // the line as written
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %q", e.File, e.Line, e.Msg, e.Text)
}

// Unwrap lets errors.Is(err, ErrHeader) match.
func (e *ParseError) Unwrap() error { return ErrHeader }

// Parse reads a saved query. fileName is the file's name, used in errors and
// checked against the header's name (without its .sql extension).
//
// The header is the block of "--" lines that starts the file and ends at the
// first line that is blank or not a comment. Every line in it must be
// "-- key: value" with a known key; free comments go after a blank line.
func Parse(fileName string, src []byte) (Query, error) {
	p := parser{file: fileName, lines: strings.Split(string(src), "\n")}
	p.q.Text = string(src)
	for i, l := range p.lines {
		p.lines[i] = strings.TrimSuffix(l, "\r")
	}
	return p.parse()
}

type parser struct {
	file  string
	lines []string
	q     Query
}

func (p *parser) fail(line int, msg string, args ...any) error {
	text := ""
	if line > 0 && line <= len(p.lines) {
		text = p.lines[line-1]
	}
	return &ParseError{File: p.file, Line: line, Text: text, Msg: fmt.Sprintf(msg, args...)}
}

func (p *parser) parse() (Query, error) {
	q := &p.q
	q.Kind = KindReport
	seen := map[headerKey]int{} // key -> line, for keys that may appear once
	paramLine := map[string]int{}
	end := 0 // lines[:end] are the header
	for end < len(p.lines) && strings.HasPrefix(p.lines[end], "--") {
		end++
	}
	if end == 0 {
		return Query{}, p.fail(1, `missing header: the file must start with "-- name: %s"`, baseName(p.file))
	}
	for i := 0; i < end; i++ {
		n := i + 1
		text := strings.TrimSpace(strings.TrimPrefix(p.lines[i], "--"))
		k, value, ok := strings.Cut(text, ":")
		if !ok || !keyRE.MatchString(k) {
			return Query{}, p.fail(n, `header line is not "-- key: value" (separate free comments from the header with a blank line)`)
		}
		key := headerKey(k)
		if !slices.Contains(headerKeys, key) {
			return Query{}, p.fail(n, "unknown header key %q (want one of %s)", k, joinKeys())
		}
		value = strings.TrimSpace(value)
		if key != keyParam {
			if prev, dup := seen[key]; dup {
				return Query{}, p.fail(n, "duplicate %q (first on line %d)", k, prev)
			}
			seen[key] = n
		}
		switch key {
		case keyName:
			want := baseName(p.file)
			switch {
			case value == "":
				return Query{}, p.fail(n, "empty name")
			case !nameRE.MatchString(value):
				return Query{}, p.fail(n, "name %q: use lowercase letters, digits, '.', '_' and '-'", value)
			case value != want:
				return Query{}, p.fail(n, "name %q differs from the file name %q", value, want+".sql")
			}
			q.Name = value
		case keyDescription:
			if value == "" {
				return Query{}, p.fail(n, "empty description")
			}
			q.Description = value
		case keyKind:
			switch Kind(value) {
			case KindReport, KindCandidates:
				q.Kind = Kind(value)
			default:
				return Query{}, p.fail(n, "unknown kind %q (want %q or %q)", value, KindReport, KindCandidates)
			}
		case keyParam:
			prm, err := parseParam(value)
			if err != nil {
				return Query{}, p.fail(n, "%s", err)
			}
			if prev, dup := paramLine[prm.Name]; dup {
				return Query{}, p.fail(n, "duplicate param %q (first on line %d)", prm.Name, prev)
			}
			paramLine[prm.Name] = n
			q.Params = append(q.Params, prm)
		}
	}
	if q.Name == "" {
		return Query{}, p.fail(0, `missing "-- name: %s" in the header`, baseName(p.file))
	}

	first := end // skip blank lines between the header and the SQL
	for first < len(p.lines) && strings.TrimSpace(p.lines[first]) == "" {
		first++
	}
	q.SQL = strings.TrimRight(strings.Join(p.lines[first:], "\n"), " \t\r\n") + "\n"
	if strings.TrimSpace(q.SQL) == "" {
		return Query{}, p.fail(0, "no SQL after the header")
	}

	used := map[string]bool{}
	for _, name := range index.ParamNames(q.SQL) {
		used[name] = true
		if name == NowParam {
			continue
		}
		if _, ok := paramLine[name]; !ok {
			n := first + p.lineOf(p.lines[first:], ":"+name)
			return Query{}, p.fail(n, `:%s is not declared (add "-- param: %s = DEFAULT  what it means" to the header)`, name, name)
		}
	}
	for _, prm := range q.Params {
		if !used[prm.Name] {
			return Query{}, p.fail(paramLine[prm.Name], "param %q is declared but the SQL never uses :%s", prm.Name, prm.Name)
		}
	}
	return *q, nil
}

// lineOf returns the 1-based line in lines where the parameter ref (":name")
// first appears as a whole word.
func (p *parser) lineOf(lines []string, ref string) int {
	for i, l := range lines {
		for off := 0; ; {
			j := strings.Index(l[off:], ref)
			if j < 0 {
				break
			}
			after := off + j + len(ref)
			if after == len(l) || !isWordByte(l[after]) {
				return i + 1
			}
			off = after
		}
	}
	return 1
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// parseParam reads the value of a "-- param:" line:
//
//	NAME [TYPE] [= DEFAULT] [DOC]
//
// DEFAULT is one word, or a single-quoted string in which a doubled quote
// stands for one. Without a default the parameter is required. Without a TYPE the
// type is inferred from the default (see InferType), or string.
func parseParam(s string) (Param, error) {
	var prm Param
	name := paramNameRE.FindString(s)
	if name == "" {
		return prm, fmt.Errorf(`param: want "NAME [TYPE] [= DEFAULT] [DOC]", NAME a letter, then letters, digits and '_'`)
	}
	if name == NowParam {
		return prm, fmt.Errorf("param %q: regsql binds :now itself; pick another name", name)
	}
	prm.Name = name
	rest := s[len(name):]
	if rest != "" && !isSpace(rest[0]) && rest[0] != '=' {
		return prm, fmt.Errorf("param %q: the name must be a letter, then letters, digits and '_'", name+strings.Fields(rest)[0])
	}
	rest = strings.TrimLeft(rest, " \t")

	if word := firstWord(rest); slices.Contains(paramTypes, ParamType(word)) {
		prm.Type = ParamType(word)
		rest = strings.TrimLeft(rest[len(word):], " \t")
	}

	if strings.HasPrefix(rest, "=") {
		rest = strings.TrimLeft(rest[1:], " \t")
		def, after, err := readDefault(rest)
		if err != nil {
			return prm, fmt.Errorf("param %q: %w", name, err)
		}
		prm.Default, rest = def, after
		if prm.Type == "" {
			prm.Type = InferType(def)
		}
		if _, err := convert(prm.Type, def); err != nil {
			return prm, fmt.Errorf("param %q: bad default: %w", name, err)
		}
	} else {
		prm.Required = true
		if prm.Type == "" {
			prm.Type = TypeString
		}
	}
	prm.Doc = strings.TrimSpace(rest)
	return prm, nil
}

func readDefault(s string) (value, rest string, err error) {
	if s == "" {
		return "", "", fmt.Errorf(`missing default after "=" (write '' for an empty string)`)
	}
	if s[0] != '\'' {
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			return s, "", nil
		}
		return s[:i], s[i:], nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '\'' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		if i+1 < len(s) && !isSpace(s[i+1]) {
			return "", "", fmt.Errorf("text right after the quoted default: %q", s[i+1:])
		}
		return b.String(), s[i+1:], nil
	}
	return "", "", fmt.Errorf("unterminated quoted default %s", s)
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t="); i >= 0 {
		return s[:i]
	}
	return s
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

func baseName(file string) string {
	return strings.TrimSuffix(path.Base(strings.ReplaceAll(file, `\`, "/")), ".sql")
}

func joinKeys() string {
	s := make([]string, len(headerKeys))
	for i, k := range headerKeys {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}
