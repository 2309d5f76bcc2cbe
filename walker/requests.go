package walker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"google.golang.org/api/googleapi"
)

// DriverOptions tune how a DriverStorage uses its driver. The zero value is
// ready to use.
type DriverOptions struct {
	// Concurrency bounds the requests in flight at once, the parallel GETs
	// of an object-store walk included. Zero means DefaultConcurrency.
	Concurrency int
	// RequestsPerSecond caps the rate of requests; zero means no cap. A
	// listing page counts as one request.
	RequestsPerSecond float64
	// Retries is how many more times a request that failed with a
	// transient error (throttling, a 5xx, a dropped connection) is tried,
	// after the driver's own retries (the S3 driver's SDK tries 3 more
	// times). Zero means DefaultRetries; negative means none.
	Retries int
	// RetryWait is the wait before the first retry, doubled before each
	// next one. Zero means one second.
	RetryWait time.Duration
}

const (
	// DefaultConcurrency is the requests in flight by default: object
	// stores answer in tens of milliseconds each, so a walk is bound by how
	// many wait at once, far more than by CPU.
	DefaultConcurrency = 32
	// DefaultRetries is the retries of a transient failure by default:
	// with the waits doubling from a second, a store throttling for about
	// half a minute is ridden out.
	DefaultRetries = 4
)

// Requests counts the requests a DriverStorage made, by kind. On S3 each
// is one HTTP request: a listing page (ListObjectsV2, up to 1000 keys), a
// HEAD, a GET, a batch DELETE. Retries are counted again under their kind,
// and also in Retries.
type Requests struct {
	List    int64 `json:"list"`
	Stat    int64 `json:"stat"`
	Get     int64 `json:"get"`
	Delete  int64 `json:"delete"`
	Retries int64 `json:"retries"`
}

// Total is every request made, retries included.
func (r Requests) Total() int64 { return r.List + r.Stat + r.Get + r.Delete }

func (r Requests) String() string {
	return fmt.Sprintf("%d requests: %d list, %d stat, %d get, %d delete, %d retried", r.Total(), r.List, r.Stat, r.Get, r.Delete, r.Retries)
}

type requestKind int

const (
	reqList requestKind = iota
	reqStat
	reqGet
	reqDelete
)

// listPage is the keys an S3 listing page holds: the unit in which listings
// are counted and paced.
const listPage = 1000

// pages is the listing pages n entries take: an empty listing is one.
func pages(n int) int64 { return max(1, int64((n+listPage-1)/listPage)) }

// requester makes a DriverStorage's requests: it bounds how many are in
// flight, paces them, retries transient failures and counts them.
type requester struct {
	opts    DriverOptions
	slots   chan struct{}
	pace    *pacer
	counts  [reqDelete + 1]atomic.Int64
	retries atomic.Int64
}

func newRequester(opts DriverOptions) *requester {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Retries == 0 {
		opts.Retries = DefaultRetries
	}
	if opts.RetryWait <= 0 {
		opts.RetryWait = time.Second
	}
	r := &requester{opts: opts, slots: make(chan struct{}, opts.Concurrency)}
	if opts.RequestsPerSecond > 0 {
		r.pace = &pacer{interval: time.Duration(float64(time.Second) / opts.RequestsPerSecond)}
	}
	return r
}

func (r *requester) requests() Requests {
	return Requests{
		List:    r.counts[reqList].Load(),
		Stat:    r.counts[reqStat].Load(),
		Get:     r.counts[reqGet].Load(),
		Delete:  r.counts[reqDelete].Load(),
		Retries: r.retries.Load(),
	}
}

// count records n requests of kind k, and paces any beyond the first,
// which was paced before it was made.
func (r *requester) count(k requestKind, n int64) {
	r.counts[k].Add(n)
	if n > 1 {
		r.pace.charge(n - 1)
	}
}

// do runs f, one request of kind k (f may report more pages through
// count), in a slot and at the paced rate, and runs it again after a
// transient failure, waiting longer each time. A failure that persists
// comes back wrapped in ErrStorageUnavailable; a refusal of the
// credentials or the bucket in ErrStorageRefused.
func (r *requester) do(ctx context.Context, k requestKind, f func() error) error {
	wait := r.opts.RetryWait
	for attempt := 0; ; attempt++ {
		if err := r.acquire(ctx); err != nil {
			return err
		}
		r.counts[k].Add(1)
		err := f()
		r.release()
		switch {
		case err == nil:
			return nil
		case refused(err):
			return fmt.Errorf("%w: %w%s", ErrStorageRefused, err, refusalHint(err))
		case !transient(err) || ctx.Err() != nil:
			return err
		case attempt == max(0, r.opts.Retries):
			tries := "not retried"
			if attempt > 0 {
				tries = fmt.Sprintf("still failing after %d retries", attempt)
			}
			return fmt.Errorf("%w: %w (%s: lower --rps or --concurrency, or try again later)", ErrStorageUnavailable, err, tries)
		}
		r.retries.Add(1)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		wait *= 2
	}
}

func (r *requester) acquire(ctx context.Context) error {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := r.pace.wait(ctx); err != nil {
		r.release()
		return err
	}
	return nil
}

func (r *requester) release() { <-r.slots }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pacer spaces requests interval apart: a steady rate without bursts,
// which is what a store's request-rate limit wants. A nil pacer does not
// wait.
type pacer struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func (p *pacer) wait(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	at := later(p.next, time.Now())
	p.next = at.Add(p.interval)
	p.mu.Unlock()
	if d := time.Until(at); d > 0 {
		return sleep(ctx, d)
	}
	return nil
}

// charge accounts for n requests made without waiting (the later pages of
// a listing), delaying the requests that follow.
func (p *pacer) charge(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next = later(p.next, time.Now()).Add(time.Duration(n) * p.interval)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// statusOf returns the HTTP status and the service's error code of an
// object store's error, from whichever SDK made it.
func statusOf(err error) (status int, code string) {
	var rf awserr.RequestFailure
	if errors.As(err, &rf) {
		return rf.StatusCode(), rf.Code()
	}
	var ae awserr.Error
	if errors.As(err, &ae) {
		return 0, ae.Code()
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code, ""
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode, re.ErrorCode
	}
	return 0, ""
}

// transient tells a failure that trying again may cure: throttling, a
// server error, a dropped or refused connection, a timeout.
func transient(err error) bool {
	status, code := statusOf(err)
	switch code {
	case "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "RequestTimeout",
		"InternalError", "ServiceUnavailable", "RequestError", "ServerBusy", "OperationTimedOut":
		return true
	}
	if status == http.StatusTooManyRequests || status >= 500 && status != http.StatusNotImplemented {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// refused tells a failure that concerns the whole store, not one object:
// credentials it does not accept, a bucket that is not there. Every other
// request would fail the same way.
func refused(err error) bool {
	if errors.Is(err, storage.ErrBucketNotExist) {
		return true
	}
	status, code := statusOf(err)
	switch code {
	case "NoSuchBucket", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
		"InvalidToken", "AuthorizationHeaderMalformed", "InvalidBucketName",
		"ContainerNotFound", "AuthenticationFailed":
		return true
	}
	// A 403 (AccessDenied) may concern one object only, written by
	// another account or denied by a policy on a prefix: a walk records
	// it as a problem and goes on. Denied listings stop a walk anyway.
	return status == http.StatusUnauthorized
}

// refusalHint says what to check after a refusal, for the codes S3 gives.
func refusalHint(err error) string {
	switch _, code := statusOf(err); code {
	case "NoSuchBucket", "InvalidBucketName":
		return " (check the bucket: storage.s3.bucket, or REGISTRY_STORAGE_S3_BUCKET)"
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken":
		return " (check the credentials: storage.s3.accesskey and secretkey, REGISTRY_STORAGE_S3_ACCESSKEY and _SECRETKEY, or the AWS credential chain)"
	}
	return ""
}

// storeError is an object store SDK's error said on one line: the AWS
// SDK's own spreads the status and request ids over several.
type storeError struct {
	msg string
	err error
}

func (e storeError) Error() string { return e.msg }
func (e storeError) Unwrap() error { return e.err }

// oneLine rewrites an AWS SDK error as "Code: message (HTTP status)",
// keeping it in the chain for errors.As.
func oneLine(err error) error {
	var ae awserr.Error
	if !errors.As(err, &ae) {
		return err
	}
	msg := ae.Code() + ": " + ae.Message()
	if ae.Message() == "" && ae.OrigErr() != nil {
		msg = ae.Code() + ": " + ae.OrigErr().Error()
	}
	var rf awserr.RequestFailure
	if errors.As(err, &rf) {
		msg += fmt.Sprintf(" (HTTP %d)", rf.StatusCode())
	}
	return storeError{msg: msg, err: err}
}
