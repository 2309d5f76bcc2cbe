package usage

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/url"
	"strings"
	"time"
)

// Kind is what a request did.
type Kind string

// The kinds of Event.
const (
	ManifestPull   Kind = "pull"        // GET or HEAD of a manifest, by tag or digest
	BlobPull       Kind = "blob_pull"   // GET of a blob
	ManifestPush   Kind = "push"        // PUT of a manifest
	BlobPush       Kind = "blob_push"   // a finished blob upload
	BlobMount      Kind = "mount"       // a blob mounted from another repository
	ManifestDelete Kind = "delete"      // DELETE of a manifest by digest (with every tag on it)
	TagDelete      Kind = "tag_delete"  // DELETE of a tag
	BlobDelete     Kind = "blob_delete" // DELETE of a blob's layer link
	// Delete is a notification's delete of a digest, which does not say
	// whether it was a manifest or a blob.
	Delete     Kind = "delete_digest"
	RepoDelete Kind = "repo_delete" // a repository deleted (notifications only)
)

// IsPull reports whether k is a manifest pull or a blob pull.
func (k Kind) IsPull() bool { return k == ManifestPull || k == BlobPull }

// Event is one request the registry served that regsql keeps.
type Event struct {
	Kind Kind
	// Key names the request: its id, or a hash of the input that told of
	// it. Two events with the same Key are the same request.
	Key  string
	Time time.Time
	Repo string
	// Reference is what was requested: a tag or a digest (manifest
	// requests); the digest for blob requests.
	Reference string
	// Tag is the tag a manifest was pulled, pushed or deleted by, when the
	// source says.
	Tag string
	// Digest is the manifest's or blob's digest when the source says:
	// always for notifications, for logs only when the request named it.
	Digest    string
	MediaType string // notifications only
	Size      int64  // notifications only; 0 when unknown
	From      string // the source repository of a mount
	Method    string // GET, HEAD, PUT, POST, DELETE
	Status    int    // logs only; 0 for notifications
	UserAgent string
	// RemoteAddr is the client's address as the registry saw it (its
	// X-Forwarded-For or X-Real-Ip when set), port included when the
	// source gives one.
	RemoteAddr string
	User       string // the authenticated user, when any
}

// route is what a request URI names.
type route struct {
	repo   string
	what   string // "manifests", "blobs", "uploads"
	ref    string // tag, digest, or upload uuid
	digest string // ?digest= of an upload PUT, ?mount= of a POST
	from   string // ?from= of a mount
}

// parseRoute reads a /v2/<name>/(manifests|blobs)/... request URI. ok is
// false for any other URI (the base, the catalog, tags lists, referrers).
func parseRoute(uri string) (route, bool) {
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return route{}, false
	}
	p, ok := strings.CutPrefix(u.Path, "/v2/")
	if !ok {
		return route{}, false
	}
	q := u.Query()
	if name, rest, ok := cutLast(p, "/blobs/uploads"); ok {
		r := route{repo: name, what: "uploads", ref: strings.TrimPrefix(rest, "/"), digest: q.Get("digest")}
		if m := q.Get("mount"); m != "" {
			r.digest, r.from = m, q.Get("from")
		}
		return r, name != ""
	}
	for _, what := range []string{"manifests", "blobs"} {
		if name, ref, ok := cutLast(p, "/"+what+"/"); ok && name != "" && ref != "" && !strings.Contains(ref, "/") {
			return route{repo: name, what: what, ref: ref}, true
		}
	}
	return route{}, false
}

// cutLast cuts s around the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// classify says what a request with this method, route and status did, or
// "" when it is nothing regsql keeps.
func classify(method string, r route, status int) Kind {
	ok2xx := status >= 200 && status <= 299
	switch {
	case r.what == "manifests" && (method == "GET" || method == "HEAD") && (ok2xx || status == 304):
		return ManifestPull
	case r.what == "manifests" && method == "PUT" && ok2xx:
		return ManifestPush
	case r.what == "manifests" && method == "DELETE" && ok2xx:
		if isDigest(r.ref) {
			return ManifestDelete
		}
		return TagDelete
	case r.what == "blobs" && method == "GET" && (ok2xx || status == 307):
		return BlobPull
	case r.what == "blobs" && method == "DELETE" && ok2xx:
		return BlobDelete
	case r.what == "uploads" && method == "PUT" && ok2xx && r.digest != "":
		return BlobPush
	case r.what == "uploads" && method == "POST" && status == 201 && r.from != "":
		return BlobMount
	}
	return ""
}

// isDigest reports whether a reference is a digest rather than a tag: a tag
// never holds a colon.
func isDigest(ref string) bool { return strings.Contains(ref, ":") }

// hashKey is the Key of an event whose source gave no request id.
func hashKey(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:16])
}

// RemoteMode says what is kept of a client's address.
type RemoteMode string

// The RemoteModes.
const (
	RemoteHash RemoteMode = "hash" // a hash of the host, port dropped
	RemoteDrop RemoteMode = "drop" // nothing
	RemoteKeep RemoteMode = "keep" // the host, port dropped
)

// ParseRemoteMode reads a --remote-addr value.
func ParseRemoteMode(s string) (RemoteMode, bool) {
	switch m := RemoteMode(s); m {
	case RemoteHash, RemoteDrop, RemoteKeep:
		return m, true
	}
	return "", false
}

// Apply returns what m keeps of addr: the port always goes, since every
// connection has its own; a hash lets queries count distinct clients without
// storing addresses. It is not anonymous against someone holding the
// database: IPv4 is small enough to hash every address.
func (m RemoteMode) Apply(addr string) string {
	if addr == "" || m == RemoteDrop {
		return ""
	}
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	if m == RemoteKeep {
		return host
	}
	sum := sha256.Sum256([]byte(host))
	return "sha256:" + hex.EncodeToString(sum[:8])
}
