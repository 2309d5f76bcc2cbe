package queries

import (
	"bufio"
	"bytes"
	_ "crypto/sha256" // makes sha256 digests valid to go-digest
	_ "crypto/sha512" // and sha384, sha512
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"
)

// Candidate is one row of a candidate list: a tag, a manifest, or a tag and
// the manifest it must still name, proposed for deletion from a repository.
type Candidate struct {
	Repo   string        `json:"repo"`
	Tag    string        `json:"tag,omitempty"`
	Digest digest.Digest `json:"digest,omitempty"`
	Reason string        `json:"reason,omitempty"`
	Bytes  int64         `json:"bytes,omitempty"` // what the row's query estimated it frees; 0 if unknown
}

// Format is a candidate list's file format.
type Format string

// The candidate list formats.
const (
	FormatCSV   Format = "csv"   // a header row naming the columns, in any order
	FormatJSON  Format = "json"  // one array of objects
	FormatJSONL Format = "jsonl" // one object per line
)

// CandidateColumns are the columns of a candidate list, in the order
// writers put them.
var CandidateColumns = []string{"repo", "tag", "digest", "reason", "bytes"}

var (
	tagRE = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	// The registry's repository name grammar: path components joined by "/".
	repoRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*$`)
)

// maxRepoLen is the registry's limit on a repository name.
const maxRepoLen = 255

// Validate checks c as the registry would check the names in a DELETE.
func (c Candidate) Validate() error {
	switch {
	case c.Repo == "":
		return errors.New("missing repo")
	case len(c.Repo) > maxRepoLen:
		return fmt.Errorf("repo %q: longer than %d characters", c.Repo, maxRepoLen)
	case !repoRE.MatchString(c.Repo):
		return fmt.Errorf("repo %q: not a valid repository name", c.Repo)
	case c.Tag == "" && c.Digest == "":
		return errors.New("neither tag nor digest")
	case c.Tag != "" && !tagRE.MatchString(c.Tag):
		return fmt.Errorf("tag %q: not a valid tag (want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})", c.Tag)
	case c.Bytes < 0:
		return fmt.Errorf("bytes %d: negative", c.Bytes)
	case !utf8.ValidString(c.Reason):
		// JSON would carry it as U+FFFD: what a journal and a plan say
		// must be what the list said.
		return fmt.Errorf("reason %q: not UTF-8 text", c.Reason)
	}
	if c.Digest != "" {
		if err := c.Digest.Validate(); err != nil {
			return fmt.Errorf("digest %q: %w", c.Digest, err)
		}
	}
	return nil
}

// DetectFormat tells a candidate file's format from its first bytes, and
// from its name's extension when the content cannot: content starting with
// "[" is JSON, with "{" JSON Lines, anything else CSV. A .json, .jsonl or
// .ndjson file that is not JSON is an error rather than a CSV surprise.
func DetectFormat(path string, head []byte) (Format, error) {
	head = bytes.TrimLeft(bytes.TrimPrefix(head, utf8BOM), " \t\r\n")
	ext := strings.ToLower(filepath.Ext(path))
	if len(head) == 0 {
		switch ext {
		case ".json":
			return FormatJSON, nil
		case ".jsonl", ".ndjson":
			return FormatJSONL, nil
		}
		return FormatCSV, nil
	}
	switch head[0] {
	case '[':
		return FormatJSON, nil
	case '{':
		return FormatJSONL, nil
	}
	switch ext {
	case ".json", ".jsonl", ".ndjson":
		return "", fmt.Errorf("%w: %q is not JSON: it starts with %q", ErrCandidate, path, firstLine(head))
	}
	return FormatCSV, nil
}

var utf8BOM = []byte("\ufeff")

func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}

// ReadCandidates reads and validates a candidate list. Errors wrap
// ErrCandidate and give the line (and, in JSON, the item) of the bad row.
func ReadCandidates(r io.Reader, format Format) ([]Candidate, error) {
	switch format {
	case FormatCSV:
		return readCSV(r)
	case FormatJSON:
		return readJSON(r)
	case FormatJSONL:
		return readJSONL(r)
	default:
		return nil, fmt.Errorf("%w: unknown format %q (want csv, json or jsonl)", ErrCandidate, format)
	}
}

func readCSV(r io.Reader) ([]Candidate, error) {
	br := bufio.NewReader(r)
	if b, err := br.Peek(len(utf8BOM)); err == nil && bytes.Equal(b, utf8BOM) {
		br.Discard(len(utf8BOM)) //nolint:errcheck // Peek just saw these bytes
	}
	cr := csv.NewReader(br)
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: empty CSV: want a header row naming the columns (%s)", ErrCandidate, strings.Join(CandidateColumns, ","))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCandidate, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if !slices.Contains(CandidateColumns, h) {
			return nil, fmt.Errorf("%w: line 1: unknown column %q (want %s)", ErrCandidate, h, strings.Join(CandidateColumns, ", "))
		}
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("%w: line 1: duplicate column %q", ErrCandidate, h)
		}
		col[h] = i
	}
	if _, ok := col["repo"]; !ok {
		return nil, fmt.Errorf("%w: line 1: no repo column", ErrCandidate)
	}
	_, hasTag := col["tag"]
	_, hasDigest := col["digest"]
	if !hasTag && !hasDigest {
		return nil, fmt.Errorf("%w: line 1: no tag or digest column", ErrCandidate)
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var out []Candidate
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCandidate, err)
		}
		line, _ := cr.FieldPos(0)
		c := Candidate{
			Repo:   field(rec, "repo"),
			Tag:    field(rec, "tag"),
			Digest: digest.Digest(field(rec, "digest")),
			Reason: field(rec, "reason"),
		}
		if s := field(rec, "bytes"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: bytes %q: not a whole number", ErrCandidate, line, s)
			}
			c.Bytes = n
		}
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrCandidate, line, err)
		}
		out = append(out, c)
	}
}

// jsonCandidate is a candidate as JSON has it: null for an absent field.
type jsonCandidate struct {
	Repo   *string `json:"repo"`
	Tag    *string `json:"tag"`
	Digest *string `json:"digest"`
	Reason *string `json:"reason"`
	Bytes  *int64  `json:"bytes"`
}

func decodeCandidate(raw []byte) (Candidate, error) {
	var j jsonCandidate
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&j); err != nil {
		return Candidate{}, err
	}
	if _, err := d.Token(); err != io.EOF {
		return Candidate{}, errors.New("text after the object")
	}
	if j.Repo == nil {
		return Candidate{}, errors.New("missing repo")
	}
	c := Candidate{Repo: *j.Repo}
	if j.Tag != nil {
		c.Tag = *j.Tag
	}
	if j.Digest != nil {
		c.Digest = digest.Digest(*j.Digest)
	}
	if j.Reason != nil {
		c.Reason = *j.Reason
	}
	if j.Bytes != nil {
		c.Bytes = *j.Bytes
	}
	return c, c.Validate()
}

func readJSON(r io.Reader) ([]Candidate, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read candidates: %w", err)
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	lineAt := func(off int64) int { return 1 + bytes.Count(data[:min(int(off), len(data))], []byte("\n")) }
	d := json.NewDecoder(bytes.NewReader(data))
	tok, err := d.Token()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: empty JSON: want an array of objects", ErrCandidate)
	}
	if err != nil || tok != json.Delim('[') {
		return nil, fmt.Errorf("%w: line %d: want a JSON array of objects", ErrCandidate, lineAt(d.InputOffset()))
	}
	var out []Candidate
	for item := 1; d.More(); item++ {
		start := d.InputOffset()
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%w: item %d (line %d): %w", ErrCandidate, item, lineAt(start), err)
		}
		line := lineAt(start + int64(len(data[start:])-len(bytes.TrimLeft(data[start:], " \t\r\n,"))))
		c, err := decodeCandidate(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: item %d (line %d): %w", ErrCandidate, item, line, err)
		}
		out = append(out, c)
	}
	if _, err := d.Token(); err != nil {
		return nil, fmt.Errorf("%w: line %d: unterminated array: %w", ErrCandidate, lineAt(d.InputOffset()), err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: line %d: text after the array", ErrCandidate, lineAt(d.InputOffset()))
	}
	return out, nil
}

func readJSONL(r io.Reader) ([]Candidate, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	var out []Candidate
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if line == 1 {
			b = bytes.TrimPrefix(b, utf8BOM)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		c, err := decodeCandidate(b)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrCandidate, line, err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read candidates: %w", err)
	}
	return out, nil
}

// CandidatesJSON returns cs as one JSON array, the value of the :candidates
// parameter: the SQL reads it with json_each(:candidates) and
// json_extract(value, '$.repo'), '$.tag', '$.digest'; an absent tag or digest
// reads as NULL.
func CandidatesJSON(cs []Candidate) string {
	if cs == nil {
		cs = []Candidate{}
	}
	// Candidate has only strings and an integer: Marshal cannot fail.
	b, _ := json.Marshal(cs)
	return string(b)
}
