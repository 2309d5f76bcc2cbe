package s3test

import (
	"fmt"
	"maps"
	"net"
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
	// KindInjected counts the requests the proxy answered itself with an
	// error (Fail, Throttle); they are not counted under their own kind.
	KindInjected = "injected"
)

// Proxy forwards requests to an S3 server and counts them by kind; it can
// answer some with 503 SlowDown instead.
type Proxy struct {
	// URL is the proxy's endpoint, to use in place of the server's.
	URL string

	srv    *httptest.Server
	mu     sync.Mutex
	counts map[string]int64
	conns  int64 // connections clients opened to the proxy
	seen   int64
	fail   func(n int64, kind string) int
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
	rp.Transport = keepAlive()
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := p.admit(kind(r))
		if status == 0 {
			rp.ServeHTTP(w, r)
			return
		}
		code, msg := "InternalError", "We encountered an internal error. Please try again."
		switch status {
		case http.StatusServiceUnavailable:
			code, msg = "SlowDown", "Please reduce your request rate."
		case http.StatusForbidden:
			code, msg = "AccessDenied", "Access Denied."
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
	}))
	p.srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			p.mu.Lock()
			p.conns++
			p.mu.Unlock()
		}
	}
	p.srv.Start()
	p.URL = p.srv.URL
	return p, nil
}

// admit counts a request and returns the status to answer it with, 0 to
// forward it.
func (p *Proxy) admit(k string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen++
	if p.fail != nil {
		if status := p.fail(p.seen, k); status != 0 {
			p.counts[KindInjected]++
			return status
		}
	}
	p.counts[k]++
	return 0
}

// Fail makes the proxy answer requests with an error instead of
// forwarding them: f, given the request's number (1 for the first since
// the proxy started) and kind, returns the status, 0 to forward. A 503
// comes with S3's SlowDown error, a 403 with AccessDenied, any other with
// InternalError. nil forwards all.
func (p *Proxy) Fail(f func(n int64, kind string) int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = f
}

// Throttle makes the proxy answer 503 SlowDown to the requests for which
// f returns true, as a store throttling a client does.
func (p *Proxy) Throttle(f func(n int64) bool) {
	p.Fail(func(n int64, _ string) int {
		if f(n) {
			return http.StatusServiceUnavailable
		}
		return 0
	})
}

// Counts returns the requests counted so far by kind.
func (p *Proxy) Counts() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.counts)
}

// Connections returns the connections clients opened to the proxy so far.
func (p *Proxy) Connections() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns
}

// Reset sets the counts, and the connections, back to zero.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts = map[string]int64{}
	p.conns = 0
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

// maxIdle is the idle connections kept to the server: more than any
// client here has requests in flight.
const maxIdle = 128

// keepAlive returns a transport that keeps maxIdle idle connections to a
// host. Go's default keeps 2: under more concurrent requests than that,
// most would open a connection of their own and leave it in TIME_WAIT,
// which costs the server, and so a benchmark, a TCP handshake a request.
func keepAlive() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = maxIdle
	tr.MaxIdleConnsPerHost = maxIdle
	return tr
}
