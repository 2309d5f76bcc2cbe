package s3test

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// The kinds of request a Proxy counts. A LIST is a bucket-level GET
// (ListObjectsV2, one page of at most 1000 keys); a batch delete
// (POST ?delete) counts as one DELETE.
const (
	KindList   = "list"
	KindGet    = "get"
	KindHead   = "head"
	KindPut    = "put"
	KindDelete = "delete"
	KindOther  = "other"
	// KindThrottled counts the requests the proxy answered itself with
	// 503 SlowDown; they are not counted under their own kind.
	KindThrottled = "throttled"
)

// Proxy forwards requests to an S3 server and counts them by kind; it can
// answer some with 503 SlowDown instead.
type Proxy struct {
	// URL is the proxy's endpoint, to use in place of the server's.
	URL string

	srv      *httptest.Server
	mu       sync.Mutex
	counts   map[string]int64
	seen     int64
	throttle func(n int64) bool
}

// StartProxy starts a proxy to the S3 endpoint target for the test.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := NewProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// NewProxy starts a proxy to the S3 endpoint target on 127.0.0.1. The
// caller must Close it.
func NewProxy(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("parse S3 endpoint %q: %w", target, err)
	}
	p := &Proxy{counts: map[string]int64{}}
	// The Host header is kept as the client sent it: it is part of what
	// the client signed.
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.admit(kind(r)) {
			rp.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?>`+
			`<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
	}))
	p.URL = p.srv.URL
	return p, nil
}

// admit counts a request and says whether to forward it.
func (p *Proxy) admit(k string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen++
	if p.throttle != nil && p.throttle(p.seen) {
		p.counts[KindThrottled]++
		return false
	}
	p.counts[k]++
	return true
}

// Throttle makes the proxy answer 503 SlowDown to the requests for which
// f, given the request's number (1 for the first since the proxy started),
// returns true; nil forwards everything.
func (p *Proxy) Throttle(f func(n int64) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.throttle = f
}

// Counts returns the requests counted so far by kind.
func (p *Proxy) Counts() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.counts)
}

// Reset sets the counts back to zero.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts = map[string]int64{}
}

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

// kind classifies a path-style S3 request: /bucket for bucket-level
// operations, /bucket/key for objects.
func kind(r *http.Request) string {
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	switch r.Method {
	case http.MethodHead:
		return KindHead
	case http.MethodGet:
		if key == "" {
			if q.Has("list-type") || q.Has("prefix") || q.Has("delimiter") || q.Has("marker") {
				return KindList
			}
			return KindOther
		}
		return KindGet
	case http.MethodPut:
		return KindPut
	case http.MethodPost:
		if q.Has("delete") {
			return KindDelete
		}
		return KindPut // multipart upload steps
	case http.MethodDelete:
		return KindDelete
	}
	return KindOther
}
