package deleter

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/regclient/regclient"
	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/scheme/reg"
	"github.com/regclient/regclient/types/ref"
)

// APIOptions configures an APIExecutor.
type APIOptions struct {
	// URL is the registry: https://host[:port], or http://host[:port] for
	// one served without TLS.
	URL string
	// Insecure skips the verification of the registry's TLS certificate.
	Insecure bool
	// ReqPerSec and ReqConcurrent limit the requests to the registry; 0
	// keeps regclient's defaults (no rate limit, 3 at once).
	ReqPerSec     float64
	ReqConcurrent int64
	// Retries is how many times a request answered 429 or 5xx, or cut off,
	// is sent again; 0 means 5, negative none.
	Retries int
	// Backoff is the wait before the first retry, doubled for each next
	// one up to MaxBackoff, which also caps a Retry-After. 0 means 500ms
	// and 30s.
	Backoff, MaxBackoff time.Duration
	// RequestTimeout bounds one request; 0 means 2 minutes. A request in
	// flight when the run is interrupted is given this long to be answered.
	RequestTimeout time.Duration
	// Transport sends the requests; nil means a copy of
	// http.DefaultTransport. (Tests pass one; credentials come from the
	// docker config either way.)
	Transport http.RoundTripper
}

// APIExecutor deletes through the registry's HTTP API with regclient, with
// the credentials of the docker config (~/.docker/config.json, credential
// helpers), regclient's token reuse and per-host limits, and retries with
// backoff.
//
// regclient retries a manifest DELETE itself on some errors but not on 503,
// and its tag delete ignores errors and then falls back to pushing a
// throwaway manifest onto the tag and deleting that by digest: a write the
// plan never asked for. So regclient is set to try each request once, the
// executor retries (bounded, with backoff) on 429, 5xx and broken
// connections, and its transport refuses every request a tag delete sends
// besides its DELETE.
type APIExecutor struct {
	rc    *regclient.RegClient
	host  string
	opts  APIOptions
	sleep func(ctx context.Context, d time.Duration) error
}

// NewAPIExecutor returns an executor for the registry at opts.URL.
func NewAPIExecutor(opts APIOptions) (*APIExecutor, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("registry URL %q: want https://host[:port] (or http:// for a registry without TLS)", opts.URL)
	}
	if opts.Retries == 0 {
		opts.Retries = 5
	}
	if opts.Retries < 0 {
		opts.Retries = 0
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.Backoff)
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 2 * time.Minute
	}
	base := opts.Transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if opts.Insecure {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //#nosec G402 the user asked for it
		}
		base = t
	}
	host := config.Host{Name: u.Host, Hostname: u.Host, TLS: config.TLSEnabled, ReqPerSec: opts.ReqPerSec, ReqConcurrent: opts.ReqConcurrent}
	switch {
	case u.Scheme == "http":
		host.TLS = config.TLSDisabled
	case opts.Insecure:
		host.TLS = config.TLSInsecure
	}
	rc := regclient.New(
		regclient.WithDockerCreds(),
		regclient.WithConfigHost(host),
		regclient.WithUserAgent("regsql"),
		regclient.WithRegOpts(
			reg.WithHTTPClient(&http.Client{Transport: &recordingTransport{next: base, timeout: opts.RequestTimeout}}),
			// One try per request: the executor retries, knowing which
			// requests are safe to send again.
			reg.WithRetryLimit(1),
			reg.WithDelay(opts.Backoff, opts.MaxBackoff),
		),
	)
	return &APIExecutor{rc: rc, host: u.Host, opts: opts, sleep: sleepCtx}, nil
}

// Prepare checks that the registry answers the API (GET /v2/) with the
// credentials at hand.
func (e *APIExecutor) Prepare(ctx context.Context) error {
	r := ref.Ref{Scheme: "reg", Registry: e.host}
	_, _, err := e.try(ctx, "", func(ctx context.Context) error {
		_, err := e.rc.Ping(ctx, r)
		return err
	})
	if err != nil {
		return fmt.Errorf("reach registry %q: %w", e.host, err)
	}
	return nil
}

// DeleteTag checks with a HEAD that the tag still names want, then sends
// DELETE /v2/<repo>/manifests/<tag>. A registry that cannot delete a tag
// alone (v2.x answers 400 DIGEST_INVALID, others 405 UNSUPPORTED) gets a
// refusal: the only other way, deleting the manifest, would take what the
// plan keeps.
func (e *APIExecutor) DeleteTag(ctx context.Context, repo, tag string, want digest.Digest) (Outcome, error) {
	r, err := ref.New(e.host + "/" + repo + ":" + tag)
	if err != nil {
		return Outcome{}, fmt.Errorf("delete tag %s:%s: %w", repo, tag, err)
	}
	cur, out, err := e.head(ctx, repo, r)
	if err != nil || out.Gone {
		return out, err
	}
	if cur != want {
		return out, refused(ReasonStale, "tag %s:%s names %s now, the plan was made when it named %s", repo, tag, cur, want)
	}
	attempts := out.Attempts
	ex, n, err := e.try(ctx, repo, func(ctx context.Context) error {
		return e.rc.TagDelete(guardFallback(ctx), r)
	})
	out = Outcome{Status: ex.status, Attempts: attempts + n}
	switch {
	case err == nil, ex.status == http.StatusOK, ex.status == http.StatusNoContent:
		// regclient takes only 202 for done; a 200 or 204 is too.
		return out, nil
	case ex.status == http.StatusNotFound:
		// Gone, unless the registry answers 404 for a tag it cannot delete.
		cur, hout, herr := e.head(ctx, repo, r)
		out.Attempts += hout.Attempts
		if herr != nil {
			return out, fmt.Errorf("delete tag %s:%s: %d, then: %w", repo, tag, ex.status, herr)
		}
		if hout.Gone {
			out.Gone = true
			return out, nil
		}
		return out, refused(ReasonTagDeleteUnsupported, "the registry answered 404 to deleting tag %s:%s but still serves it (as %s): it cannot delete a tag alone", repo, tag, short(cur))
	case ex.status == http.StatusBadRequest || ex.status == http.StatusMethodNotAllowed || ex.status == http.StatusNotImplemented || ex.code == "UNSUPPORTED":
		return out, refused(ReasonTagDeleteUnsupported, "the registry cannot delete tag %s:%s alone (%d %s: a registry v2.x, or deletes are disabled); deleting its manifest instead would take what the plan keeps", repo, tag, ex.status, ex.code)
	}
	return out, fmt.Errorf("delete tag %s:%s: %w", repo, tag, ex.failure(err))
}

// DeleteManifest sends DELETE /v2/<repo>/manifests/<digest>. The registry
// removes every tag naming it; the executor cannot see those tags without
// listing the repository, so the plan's check against the index is what
// guards them.
func (e *APIExecutor) DeleteManifest(ctx context.Context, repo string, d digest.Digest, _ []string) (Outcome, error) {
	r, err := ref.New(e.host + "/" + repo + "@" + d.String())
	if err != nil {
		return Outcome{}, fmt.Errorf("delete manifest %s@%s: %w", repo, d, err)
	}
	ex, n, err := e.try(ctx, repo, func(ctx context.Context) error {
		return e.rc.ManifestDelete(ctx, r)
	})
	out := Outcome{Status: ex.status, Attempts: n}
	switch {
	case err == nil:
		return out, nil
	case ex.status == http.StatusNotFound:
		out.Gone = true
		return out, nil
	case ex.status == http.StatusMethodNotAllowed:
		return out, fmt.Errorf("delete manifest %s@%s: the registry refuses deletes (405 %s): is storage.delete.enabled false, or the registry read-only?", repo, d, ex.code)
	}
	return out, fmt.Errorf("delete manifest %s@%s: %w", repo, d, ex.failure(err))
}

// head returns the digest repo:tag names, or Gone.
func (e *APIExecutor) head(ctx context.Context, repo string, r ref.Ref) (digest.Digest, Outcome, error) {
	var cur digest.Digest
	ex, n, err := e.try(ctx, repo, func(ctx context.Context) error {
		m, err := e.rc.ManifestHead(ctx, r)
		if err == nil {
			cur = m.GetDescriptor().Digest
		}
		return err
	})
	out := Outcome{Status: ex.status, Attempts: n}
	switch {
	case err == nil && cur == "":
		return "", out, fmt.Errorf("head %s: the registry gave no digest", r.CommonName())
	case err == nil:
		return cur, out, nil
	case ex.status == http.StatusNotFound:
		out.Gone = true
		return "", out, nil
	}
	return "", out, fmt.Errorf("head %s: %w", r.CommonName(), ex.failure(err))
}

// try calls f until it succeeds, fails in a way a retry cannot help, or the
// retries run out; it waits with exponential backoff (or the registry's
// Retry-After, capped) between tries and stops waiting when ctx is
// cancelled. It returns what the last try's requests to repo were answered
// and the number of tries.
func (e *APIExecutor) try(ctx context.Context, repo string, f func(ctx context.Context) error) (*exchange, int, error) {
	wait := e.opts.Backoff
	for n := 1; ; n++ {
		ex := &exchange{repo: repo}
		err := f(context.WithValue(ctx, exchangeKey{}, ex))
		if err == nil || !ex.retryable() || n > e.opts.Retries {
			return ex, n, err
		}
		d := wait
		if ex.retryAfter > 0 {
			d = ex.retryAfter
		}
		if serr := e.sleep(ctx, min(d, e.opts.MaxBackoff)); serr != nil {
			return ex, n, fmt.Errorf("%w (gave up retrying: %w)", err, serr)
		}
		wait = min(2*wait, e.opts.MaxBackoff)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// exchangeKey is the context key of the *exchange a call's requests record
// into.
type exchangeKey struct{}

// guardKey marks a tag delete's context: the transport refuses any request
// for the repository but DELETE.
type guardKey struct{}

func guardFallback(ctx context.Context) context.Context {
	return context.WithValue(ctx, guardKey{}, true)
}

// errFallbackRefused is what the transport answers to regclient's tag-delete
// fallback.
var errFallbackRefused = errors.New("refused to replace the tag with a throwaway manifest (regclient's tag-delete fallback)")

// exchange records what the registry answered to one call's requests for a
// repository (regclient hides the status in its errors).
type exchange struct {
	repo string

	mu         sync.Mutex
	status     int    // the last answer's status; 0 if none came
	code       string // the first error code of a non-2xx answer, e.g. UNSUPPORTED
	body       string // the start of a non-2xx answer's body
	retryAfter time.Duration
	netErr     error // the last request's transport error, if it got no answer
}

func (x *exchange) observe(resp *http.Response, body []byte, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err != nil {
		x.status, x.netErr = 0, err
		return
	}
	x.status, x.netErr, x.code, x.body, x.retryAfter = resp.StatusCode, nil, "", "", 0
	if resp.StatusCode >= 300 {
		x.body = strings.TrimSpace(string(body))
		x.code = errorCode(body)
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s >= 0 {
			x.retryAfter = time.Duration(s) * time.Second
		}
	}
}

// retryable reports whether sending the request again may help: it was
// cut off, or the registry was overloaded or failed.
func (x *exchange) retryable() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case x.netErr != nil:
		return true
	case x.status == http.StatusTooManyRequests, x.status == http.StatusRequestTimeout:
		return true
	case x.status >= 500 && x.status != http.StatusNotImplemented:
		return true
	}
	return false
}

// failure describes a failed call: the registry's answer when there was
// one (regclient's error only repeats it), else err.
func (x *exchange) failure(err error) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.status == 0 {
		return err
	}
	body := x.body
	if len(body) > 200 {
		body = body[:200] + "..."
	}
	if body == "" {
		return fmt.Errorf("registry answered %d %s", x.status, http.StatusText(x.status))
	}
	return fmt.Errorf("registry answered %d %s: %s", x.status, http.StatusText(x.status), body)
}

// errorCode reads the first code of a registry error body
// {"errors":[{"code":"..."}]} without parsing JSON it does not need.
func errorCode(body []byte) string {
	_, rest, ok := bytes.Cut(body, []byte(`"code":`))
	if !ok {
		return ""
	}
	rest = bytes.TrimLeft(rest, " ")
	if len(rest) == 0 || rest[0] != '"' {
		return ""
	}
	code, _, _ := bytes.Cut(rest[1:], []byte(`"`))
	return string(code)
}

// recordingTransport sends regclient's requests. It records the answers to
// a repository's requests in the call's exchange, refuses what a guarded
// tag delete must not send, and lets a request in flight finish (within
// its timeout) when the run is interrupted, so that its answer is known.
type recordingTransport struct {
	next    http.RoundTripper
	timeout time.Duration
}

func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ex, _ := req.Context().Value(exchangeKey{}).(*exchange)
	mine := ex != nil && (ex.repo == "" && req.URL.Path == "/v2/" ||
		ex.repo != "" && strings.HasPrefix(req.URL.Path, "/v2/"+ex.repo+"/"))
	if mine && req.Method != http.MethodDelete && req.Context().Value(guardKey{}) != nil {
		// Not observed: what counts is the answer to the DELETE before it.
		return nil, errFallbackRefused
	}
	if err := req.Context().Err(); err != nil {
		return nil, err // not in flight yet: do not start it
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), t.timeout)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		if mine {
			ex.observe(nil, nil, err)
		}
		return nil, err
	}
	var head []byte
	if resp.StatusCode >= 300 {
		// Keep the start of an error body for the journal; the reader gets
		// it all the same.
		head, _ = io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body = readCloser{Reader: io.MultiReader(bytes.NewReader(head), resp.Body), Closer: resp.Body}
	}
	if mine {
		ex.observe(resp, head, nil)
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
