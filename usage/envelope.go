package usage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// EventsMediaType is the Content-Type of the registry's notification
// envelopes.
const EventsMediaType = "application/vnd.docker.distribution.events.v2+json"

// notification is the part of one of the registry's notification events
// that regsql reads (distribution's notifications.Event).
type notification struct {
	ID        string    `json:"id"`
	Timestamp time.Time `json:"timestamp"`
	Action    string    `json:"action"`
	Target    struct {
		MediaType      string `json:"mediaType"`
		Digest         string `json:"digest"`
		Size           int64  `json:"size"`
		Length         int64  `json:"length"`
		Repository     string `json:"repository"`
		FromRepository string `json:"fromRepository"`
		URL            string `json:"url"`
		Tag            string `json:"tag"`
	} `json:"target"`
	Request struct {
		ID        string `json:"id"`
		Addr      string `json:"addr"`
		Method    string `json:"method"`
		UserAgent string `json:"useragent"`
	} `json:"request"`
	Actor struct {
		Name string `json:"name"`
	} `json:"actor"`
}

// manifestTypes are the media types of the manifests the registry serves,
// to tell a manifest event from a blob event that has no URL.
var manifestTypes = map[string]bool{
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
	"application/vnd.oci.image.manifest.v1+json":                true,
	"application/vnd.oci.image.index.v1+json":                   true,
}

// ParseEnvelope reads a notification envelope ({"events": [...]}), or one
// event on its own, and returns the events regsql keeps, in order. skipped
// counts the events it read and left out (a HEAD of a blob, an unknown
// action). An error wraps ErrMalformed.
func ParseEnvelope(data []byte) (events []Event, skipped int, err error) {
	var env struct {
		Events []json.RawMessage `json:"events"`
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, 0, fmt.Errorf("read notification envelope: %w: not a JSON object", ErrMalformed)
	}
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return nil, 0, fmt.Errorf("read notification envelope: %w: %v", ErrMalformed, err)
	}
	raw := env.Events
	if env.Events == nil {
		raw = []json.RawMessage{trimmed} // a single event
	}
	for i, r := range raw {
		var n notification
		if err := json.Unmarshal(r, &n); err != nil {
			return nil, 0, fmt.Errorf("read notification event %d: %w: %v", i+1, ErrMalformed, err)
		}
		if n.Action == "" || n.Target.Repository == "" || n.Timestamp.IsZero() {
			return nil, 0, fmt.Errorf("read notification event %d: %w: no action, repository or timestamp", i+1, ErrMalformed)
		}
		ev, ok := n.event()
		if !ok {
			skipped++
			continue
		}
		if ev.Key == "" {
			ev.Key = hashKey(r)
		}
		events = append(events, ev)
	}
	return events, skipped, nil
}

// event turns a notification into an Event; ok is false for one regsql
// does not keep.
func (n notification) event() (Event, bool) {
	t := n.Target
	size := t.Size
	if size == 0 {
		size = t.Length
	}
	ev := Event{
		Key: n.Request.ID, Time: n.Timestamp.UTC(), Repo: t.Repository, Tag: t.Tag, Digest: t.Digest,
		MediaType: t.MediaType, Size: size, From: t.FromRepository, Method: n.Request.Method,
		UserAgent: n.Request.UserAgent, RemoteAddr: n.Request.Addr, User: n.Actor.Name,
	}
	if ev.Key == "" {
		ev.Key = n.ID
	}
	ev.Reference = t.Digest
	if t.Tag != "" {
		ev.Reference = t.Tag
	}
	manifest := isManifestURL(t.URL, t.MediaType)
	switch {
	case n.Action == "pull" && manifest:
		ev.Kind = ManifestPull
	case n.Action == "pull" && ev.Method != "HEAD":
		ev.Kind, ev.Reference = BlobPull, t.Digest
	case n.Action == "push" && manifest:
		ev.Kind = ManifestPush
	case n.Action == "push":
		ev.Kind, ev.Reference = BlobPush, t.Digest
	case n.Action == "mount":
		ev.Kind, ev.Reference = BlobMount, t.Digest
	case n.Action == "delete" && t.Tag != "":
		ev.Kind = TagDelete
	case n.Action == "delete" && t.Digest != "":
		ev.Kind = Delete
	case n.Action == "delete":
		ev.Kind = RepoDelete
	default:
		return Event{}, false
	}
	if ev.Kind.IsPull() && ev.Digest == "" {
		return Event{}, false
	}
	return ev, true
}

// isManifestURL tells a manifest event from a blob event by its target's
// URL (…/manifests/… or …/blobs/…), or by its media type when it has none.
func isManifestURL(raw, mediaType string) bool {
	if u, err := url.Parse(raw); err == nil && u.Path != "" {
		return strings.Contains(u.Path, "/manifests/")
	}
	return manifestTypes[mediaType]
}
