package s3test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/s3"
)

// Version is the versitygw release the tests run; the Makefile's
// VERSITYGW_VERSION must say the same.
const Version = "v1.8.0"

// The credentials and region every Server is started with.
const (
	AccessKey = "regsql-test"
	SecretKey = "regsql-test-secret"
	Region    = "us-east-1"
)

// Binary returns the path of the versitygw binary: $VERSITYGW, else
// build/tools/versitygw-<Version> in the module's root. It returns an error
// wrapping ErrNoBinary when there is none.
func Binary() (string, error) {
	if p := os.Getenv("VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: $VERSITYGW: %w", ErrNoBinary, err)
		}
		return p, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "build", "tools", "versitygw-"+Version)
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w: no %s: run `make tools` (make test does)", ErrNoBinary, p)
		}
		return "", fmt.Errorf("find versitygw: %w", err)
	}
	return p, nil
}

// moduleRoot is the nearest directory at or above the working directory
// holding go.mod: tests run in their package's directory, programs in the
// module's.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no go.mod above the working directory to find build/tools in", ErrNoBinary)
		}
		dir = parent
	}
}

// Options change how New starts a server.
type Options struct {
	// Dir is the posix directory served, one subdirectory per bucket;
	// empty means a fresh temporary directory that Close removes.
	Dir string
	// Meta is where versitygw keeps object metadata (its sidecar
	// directory), so that Dir is never written to by anything but the
	// S3 requests themselves; empty means a temporary directory.
	Meta string
	// Xattrs keeps object metadata in extended attributes of the files
	// in Dir instead (versitygw's default; it needs a filesystem with
	// user xattrs): much cheaper to read than a sidecar directory of
	// small files per object, for a benchmark's many objects.
	Xattrs bool
	// BucketLinks makes a symbolic link in Dir to a directory a bucket:
	// a tree elsewhere is served without copying it.
	BucketLinks bool
	// Quiet stops versitygw logging every request to its output (kept
	// for a failing test's message otherwise): a benchmark's hundreds of
	// thousands of requests would cost the server a line each.
	Quiet bool
}

// Server is a running versitygw.
type Server struct {
	// URL is the S3 endpoint, http://127.0.0.1:<port>.
	URL string
	// Dir is the posix directory served: bucket b is Dir/b.
	Dir string

	cmd     *exec.Cmd
	exited  chan struct{}
	output  *tailBuffer
	scratch []string // removed by Close
	client  *s3.S3
}

// Start starts a server for the test and stops it when the test ends. When
// versitygw is not built it skips the test, or fails it under CI=true.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if errors.Is(err, ErrNoBinary) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("S3 tests need versitygw under CI: %v", err)
		}
		t.Skipf("S3 tests skipped: %v", err)
	}
	if err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stop versitygw: %v", err)
		}
	})
	return s
}

// New starts a server outside a test, for programs such as the benchmark.
// The caller must Close it.
func New(opts Options) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	s := &Server{exited: make(chan struct{})}
	if opts.Dir == "" {
		if opts.Dir, err = s.tempDir("versitygw-data-"); err != nil {
			return nil, err
		}
	}
	if opts.Meta == "" && !opts.Xattrs {
		if opts.Meta, err = s.tempDir("versitygw-meta-"); err != nil {
			s.removeScratch()
			return nil, err
		}
	}
	s.Dir = opts.Dir
	// The port is picked free and released for versitygw to take: another
	// process may grab it meanwhile, so a failed start is tried again.
	for attempt := 0; ; attempt++ {
		err = s.start(bin, opts)
		if err == nil || attempt == 2 {
			break
		}
		s.exited = make(chan struct{})
	}
	if err != nil {
		s.removeScratch()
		return nil, err
	}
	sess, err := session.NewSession(s.awsConfig())
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("create S3 client: %w", err)
	}
	s.client = s3.New(sess)
	return s, nil
}

func (s *Server) tempDir(pattern string) (string, error) {
	d, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", fmt.Errorf("create versitygw directory: %w", err)
	}
	s.scratch = append(s.scratch, d)
	return d, nil
}

func (s *Server) removeScratch() {
	for _, d := range s.scratch {
		os.RemoveAll(d)
	}
	s.scratch = nil
}

func (s *Server) start(bin string, opts Options) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + port
	// versitygw closes every connection after one request unless told to
	// keep it; S3 keeps them, and a client making many requests depends
	// on that (a new TCP connection a request costs the server, and so a
	// benchmark, more than many a request does).
	args := []string{"--access", AccessKey, "--secret", SecretKey, "--region", Region, "--port", addr, "--keep-alive"}
	if opts.Quiet {
		args = append(args, "--quiet")
	}
	args = append(args, "posix")
	if !opts.Xattrs {
		args = append(args, "--sidecar", opts.Meta)
	}
	if opts.BucketLinks {
		args = append(args, "--bucketlinks")
	}
	args = append(args, opts.Dir)
	s.output = &tailBuffer{}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout = s.output
	s.cmd.Stderr = s.output
	setParentDeath(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		s.cmd.Wait() //nolint:errcheck // the exit is reported through s.exited
		close(s.exited)
	}()
	s.URL = "http://" + addr
	if err := s.waitReady(10 * time.Second); err != nil {
		s.stop()
		return err
	}
	return nil
}

// waitReady waits until the server answers HTTP (any status: an
// unauthenticated request is refused, which is an answer).
func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(s.URL + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("versitygw exited at start: %s", s.output)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw did not answer on %s within %s: %s", s.URL, limit, s.output)
		}
	}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}

func (s *Server) stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Kill() //nolint:errcheck // it may have exited already
	}
	<-s.exited
}

// Close stops the server and removes the directories New made.
func (s *Server) Close() error {
	s.stop()
	s.removeScratch()
	return nil
}

// Output is what versitygw printed lately, for a failure message.
func (s *Server) Output() string { return s.output.String() }

func (s *Server) awsConfig() *aws.Config {
	return aws.NewConfig().
		WithCredentials(credentials.NewStaticCredentials(AccessKey, SecretKey, "")).
		WithEndpoint(s.URL).
		WithRegion(Region).
		WithS3ForcePathStyle(true).
		WithDisableSSL(true).
		WithHTTPClient(&http.Client{Transport: keepAlive()})
}

// CreateBucket creates bucket name through the S3 API.
func (s *Server) CreateBucket(ctx context.Context, name string) error {
	if _, err := s.client.CreateBucketWithContext(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return fmt.Errorf("create bucket %q: %w", name, err)
	}
	return nil
}

// PutObject writes body at key in bucket with one PUT, as the s3 driver
// writes a registry's link files: its ETag is the MD5 of body.
func (s *Server) PutObject(ctx context.Context, bucket, key string, body []byte) error {
	_, err := s.client.PutObjectWithContext(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	return nil
}

// CopyBucket creates bucket dst and copies every object of src into it,
// server-side.
func (s *Server) CopyBucket(ctx context.Context, src, dst string) error {
	if err := s.CreateBucket(ctx, dst); err != nil {
		return err
	}
	var copyErr error
	err := s.client.ListObjectsV2PagesWithContext(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(src)}, func(out *s3.ListObjectsV2Output, _ bool) bool {
		for _, o := range out.Contents {
			_, copyErr = s.client.CopyObjectWithContext(ctx, &s3.CopyObjectInput{
				Bucket:     aws.String(dst),
				Key:        o.Key,
				CopySource: aws.String(src + "/" + aws.StringValue(o.Key)),
			})
			if copyErr != nil {
				return false
			}
		}
		return true
	})
	if err == nil {
		err = copyErr
	}
	if err != nil {
		return fmt.Errorf("copy bucket %q to %q: %w", src, dst, err)
	}
	return nil
}

var buckets atomic.Int64

// NewBucket creates a bucket of its own for the test, named after it.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := BucketName(t.Name(), buckets.Add(1))
	if err := s.CreateBucket(context.Background(), name); err != nil {
		t.Fatalf("%v\n%s", err, s.Output())
	}
	return name
}

// BucketName makes a valid bucket name (3 to 63 of [a-z0-9-], starting and
// ending with a letter or digit) from a test name and a sequence number.
func BucketName(testName string, n int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "t%d-", n)
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := b.String()
	if len(name) > 63 {
		name = name[:63]
	}
	return strings.TrimRight(name, "-")
}

// RegistryConfig returns a registry config.yml whose storage is bucket,
// below rootDirectory, through the endpoint (a server's URL, or a
// proxy's), with the credentials every Server takes: what the registry
// and regsql index --config read.
func RegistryConfig(endpoint, bucket, rootDirectory string) []byte {
	return fmt.Appendf(nil, `version: 0.1
storage:
  s3:
    accesskey: %s
    secretkey: %s
    region: %s
    regionendpoint: %s
    forcepathstyle: true
    secure: false
    bucket: %s
    rootdirectory: %q
`, AccessKey, SecretKey, Region, endpoint, bucket, rootDirectory)
}

// DriverParameters are the parameters of distribution's s3 storage driver
// (the storage.s3 section of a registry's config.yml) for bucket on this
// server, with the driver's rootdirectory.
func (s *Server) DriverParameters(bucket, rootDirectory string) map[string]any {
	return map[string]any{
		"accesskey":      AccessKey,
		"secretkey":      SecretKey,
		"region":         Region,
		"regionendpoint": s.URL,
		"forcepathstyle": true,
		"secure":         false,
		"bucket":         bucket,
		"rootdirectory":  rootDirectory,
	}
}

// tailBuffer keeps the last bytes a process wrote.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

const keepOutput = 8192

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > keepOutput {
		t.b = t.b[len(t.b)-keepOutput:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	// The banner is box-drawn; the lines after it say what went wrong.
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(t.b))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.ContainsAny(l, "│┌└") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
