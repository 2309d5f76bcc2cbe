package usage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// requestLine is the fields of a registry log line that regsql reads.
type requestLine struct {
	Time      string `json:"time"`
	Msg       string `json:"msg"`
	Method    string `json:"http.request.method"`
	URI       string `json:"http.request.uri"`
	Status    any    `json:"http.response.status"` // a number in JSON, text in logfmt
	ID        string `json:"http.request.id"`
	UserAgent string `json:"http.request.useragent"`
	Remote    string `json:"http.request.remoteaddr"`
	User      string `json:"auth.user.name"`
	Name      string `json:"vars.name"`
	Reference string `json:"vars.reference"`
	Digest    string `json:"vars.digest"`

	statusText string // http.response.status as logfmt text
}

// completed is the message of the registry's one log line per request
// answered with a 2xx or 3xx status.
const completed = "response completed"

// ParseLogLine reads one line of the registry's log, in its text (logfmt) or
// JSON format. ok is false, with a nil error, for a line that is not a
// request regsql keeps (another message, an error response, a catalog
// request); an error wrapping ErrMalformed means the line is not a registry
// log line at all.
func ParseLogLine(line []byte) (ev Event, ok bool, err error) {
	body := bytes.TrimSpace(line)
	var l requestLine
	switch i := logStart(body); {
	case i < 0:
		return Event{}, false, fmt.Errorf("read log line: %w: neither time=... nor a JSON object", ErrMalformed)
	case body[i] == '{':
		if err := json.Unmarshal(body[i:], &l); err != nil {
			return Event{}, false, fmt.Errorf("read JSON log line: %w: %v", ErrMalformed, err)
		}
	default:
		if err := parseLogfmt(body[i:], &l); err != nil {
			return Event{}, false, fmt.Errorf("read log line: %w: %v", ErrMalformed, err)
		}
	}
	if l.Msg != completed {
		return Event{}, false, nil
	}
	at, err := time.Parse(time.RFC3339Nano, l.Time)
	if err == nil && at.IsZero() {
		// Year 1: no registry logged it, and the zero time means "unknown"
		// everywhere an event's time is read.
		err = errors.New("zero time")
	}
	if err != nil {
		return Event{}, false, fmt.Errorf("read log line: %w: time %q", ErrMalformed, l.Time)
	}
	status, err := statusOf(l.Status)
	if err != nil {
		return Event{}, false, fmt.Errorf("read log line: %w: %v", ErrMalformed, err)
	}
	r, routed := parseRoute(l.URI)
	if !routed {
		return Event{}, false, nil
	}
	kind := classify(l.Method, r, status)
	if kind == "" {
		return Event{}, false, nil
	}
	ev = Event{
		Kind: kind, Key: l.ID, Time: at.UTC(), Repo: r.repo, Reference: r.ref,
		Method: l.Method, Status: status, UserAgent: l.UserAgent, RemoteAddr: l.Remote, User: l.User,
	}
	// The router's own reading of the URI, when logged, is the registry's
	// word on what was asked.
	if l.Name != "" {
		ev.Repo = l.Name
	}
	switch kind {
	case ManifestPull, ManifestPush, ManifestDelete, TagDelete:
		if l.Reference != "" {
			ev.Reference = l.Reference
		}
		if isDigest(ev.Reference) {
			ev.Digest = ev.Reference
		} else {
			ev.Tag = ev.Reference
		}
	case BlobPull, BlobDelete:
		if l.Digest != "" {
			ev.Reference = l.Digest
		}
		ev.Digest = ev.Reference
	case BlobPush, BlobMount:
		ev.Reference, ev.Digest, ev.From = r.digest, r.digest, r.from
	}
	if ev.Key == "" {
		ev.Key = hashKey(body)
	}
	return ev, true, nil
}

// logStart finds where the log line proper starts: at its beginning, or
// after a prefix such as docker's --timestamps or a CRI log's
// "<time> stderr F ". It returns -1 when there is no log line.
func logStart(b []byte) int {
	if len(b) > 0 && b[0] == '{' || bytes.HasPrefix(b, []byte("time=")) {
		return 0
	}
	if i := bytes.Index(b, []byte(` time="`)); i >= 0 {
		return i + 1
	}
	return bytes.Index(b, []byte(`{"`))
}

// statusOf reads http.response.status, a JSON number or logfmt text.
func statusOf(v any) (int, error) {
	switch s := v.(type) {
	case float64:
		return int(s), nil
	case string:
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("status %q", s)
		}
		return n, nil
	case nil:
		return 0, nil
	}
	return 0, fmt.Errorf("status %v", v)
}

// parseLogfmt reads logrus's text format: key=value pairs separated by
// spaces, where a value with anything but [A-Za-z0-9-._/@^+] in it is a Go
// quoted string.
func parseLogfmt(b []byte, l *requestLine) error {
	for len(b) > 0 {
		if b[0] == ' ' {
			b = b[1:]
			continue
		}
		eq := bytes.IndexByte(b, '=')
		if eq <= 0 {
			return fmt.Errorf("no key=value at %q", clip(b))
		}
		key := b[:eq]
		if bytes.IndexByte(key, ' ') >= 0 || bytes.IndexByte(key, '"') >= 0 {
			return fmt.Errorf("bad key %q", clip(key))
		}
		b = b[eq+1:]
		field := fieldOf(l, key)
		if len(b) > 0 && b[0] == '"' {
			end := quotedEnd(b)
			if end < 0 {
				return fmt.Errorf("unterminated quote in %s", key)
			}
			if field != nil {
				s, err := strconv.Unquote(string(b[:end]))
				if err != nil {
					return fmt.Errorf("bad quoted value of %s", key)
				}
				*field = s
			}
			b = b[end:]
		} else {
			end := bytes.IndexByte(b, ' ')
			if end < 0 {
				end = len(b)
			}
			if field != nil {
				*field = string(b[:end])
			}
			b = b[end:]
		}
	}
	if l.statusText != "" {
		l.Status = l.statusText
	}
	return nil
}

// quotedEnd returns the index just past the closing quote of the Go string
// literal b starts with, or -1.
func quotedEnd(b []byte) int {
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// fieldOf returns where the value of key goes, or nil for a key regsql
// does not read (its value is then skipped without copying it).
func fieldOf(l *requestLine, key []byte) *string {
	switch string(key) {
	case "time":
		return &l.Time
	case "msg":
		return &l.Msg
	case "http.request.method":
		return &l.Method
	case "http.request.uri":
		return &l.URI
	case "http.response.status":
		return &l.statusText
	case "http.request.id":
		return &l.ID
	case "http.request.useragent":
		return &l.UserAgent
	case "http.request.remoteaddr":
		return &l.Remote
	case "auth.user.name":
		return &l.User
	case "vars.name":
		return &l.Name
	case "vars.reference":
		return &l.Reference
	case "vars.digest":
		return &l.Digest
	}
	return nil
}

// clip shortens b for an error message.
func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
