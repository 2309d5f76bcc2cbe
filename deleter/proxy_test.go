package deleter

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// fault is what the proxy does to one request instead of (or besides)
// passing it on.
type fault string

const (
	passThrough fault = ""
	status500   fault = "500"
	status502   fault = "502"
	status503   fault = "503"
	status429   fault = "429"
	resetBefore fault = "reset-before" // the connection is cut before the registry sees the request
	resetAfter  fault = "reset-after"  // the registry does the work, then the connection is cut
	slow        fault = "slow"         // passed on after a pause
	hang        fault = "hang"         // never passed on: held until the client gives up
)

// call is a request the proxy passed on to the registry, and its answer.
type call struct {
	Method string
	Path   string
	Status int
}

// faultProxy is an HTTP reverse proxy on 127.0.0.1 in front of a registry.
// decide picks a fault for each request to a repository's manifests (the
// requests a deleter sends); the proxy records every request it passes on.
type faultProxy struct {
	URL string

	t      *testing.T
	rp     *httputil.ReverseProxy
	decide func(n int, r *http.Request) fault
	// after, when set, is called once a request the registry answered has
	// been recorded, before the answer goes back.
	after func(c call)

	mu       sync.Mutex
	n        int
	calls    []call
	injected map[fault]int
}

func newFaultProxy(t *testing.T, registryURL string, decide func(n int, r *http.Request) fault) *faultProxy {
	t.Helper()
	target, err := url.Parse(registryURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, rp: httputil.NewSingleHostReverseProxy(target), decide: decide, injected: map[fault]int{}}
	p.rp.ErrorLog = nil
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := passThrough
	if p.decide != nil && strings.Contains(r.URL.Path, "/manifests/") {
		p.mu.Lock()
		f = p.decide(p.n, r)
		p.n++
		if f != passThrough {
			p.injected[f]++
		}
		p.mu.Unlock()
	}
	switch f {
	case status500, status502, status503, status429:
		if f == status429 {
			w.Header().Set("Retry-After", "0")
		}
		w.Header().Set("Content-Type", "application/json")
		code := map[fault]int{status500: 500, status502: 502, status503: 503, status429: 429}[f]
		w.WriteHeader(code)
		w.Write([]byte(`{"errors":[{"code":"UNKNOWN","message":"injected by the test"}]}`))
	case resetBefore:
		cut(w)
	case resetAfter:
		rec := httptest.NewRecorder()
		p.forward(rec, r)
		cut(w)
	case hang:
		<-r.Context().Done()
	case slow:
		time.Sleep(20 * time.Millisecond)
		p.forward(w, r)
	default:
		p.forward(w, r)
	}
}

// forward passes the request on to the registry and records it.
func (p *faultProxy) forward(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	p.rp.ServeHTTP(rec, r)
	c := call{Method: r.Method, Path: r.URL.Path, Status: rec.Code}
	p.mu.Lock()
	p.calls = append(p.calls, c)
	p.mu.Unlock()
	if p.after != nil {
		p.after(c)
	}
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// cut closes the client's connection without an answer.
func cut(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

// deletes returns the DELETE requests the registry received, as the keys of
// the actions they carry out, with their status.
func (p *faultProxy) deletes() []call {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []call
	for _, c := range p.calls {
		if c.Method == http.MethodDelete {
			out = append(out, call{Method: c.Method, Path: deleteKey(c.Path), Status: c.Status})
		}
	}
	return out
}

// writes counts the requests that would change the registry other than
// DELETE: what regclient's tag-delete fallback would send.
func (p *faultProxy) writes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		switch c.Method {
		case http.MethodPut, http.MethodPost, http.MethodPatch:
			n++
		}
	}
	return n
}

// deleteKey turns /v2/<repo>/manifests/<ref> into the key of the action.
func deleteKey(path string) string {
	rest := strings.TrimPrefix(path, "/v2/")
	i := strings.LastIndex(rest, "/manifests/")
	if i < 0 {
		return path
	}
	repo, ref := rest[:i], rest[i+len("/manifests/"):]
	if d, err := digest.Parse(ref); err == nil {
		return manifestKey(repo, d)
	}
	return tagKey(repo, ref)
}

// startHandler serves h on 127.0.0.1 for the test and returns its URL.
func startHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
