package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/regsql/regsql/internal/s3test"
)

// S3 holds generated trees as buckets of a local S3 server (versitygw,
// posix backend) kept under one directory, and counts the requests made to
// it through a proxy.
//
// A tree is uploaded object by object with PutObject, once, as the s3
// driver writes a registry's files: each object then has the ETag a
// registry's would, the MD5 of its content (versitygw could serve the tree
// directory as a bucket as it lies, but files it did not write have no
// ETag). The bucket stays on disk for the next run; a marker file says the
// upload completed.
type S3 struct {
	srv     *s3test.Server
	proxy   *s3test.Proxy
	dir     string // data/ (one directory per bucket), configs/, markers
	configs string
}

// StartS3 starts versitygw on the buckets kept in dir, and its counting
// proxy, on 127.0.0.1. The caller must Close it. Object metadata (the
// ETags) is kept in extended attributes: a sidecar directory of small
// files per object took 5 GB for the medium tree and most of the server's
// time.
func StartS3(dir string) (*S3, error) {
	data, configs := filepath.Join(dir, "data"), filepath.Join(dir, "configs")
	for _, d := range []string{data, configs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create S3 directory: %w", err)
		}
	}
	srv, err := s3test.New(s3test.Options{Dir: data, Xattrs: true, Quiet: true})
	if err != nil {
		return nil, err
	}
	proxy, err := s3test.NewProxy(srv.URL)
	if err != nil {
		srv.Close()
		return nil, err
	}
	return &S3{srv: srv, proxy: proxy, dir: dir, configs: configs}, nil
}

// Bucket is the bucket a tree is uploaded to: the name of its directory,
// which says its preset, generator version, seed and size.
func Bucket(t Tree) string { return filepath.Base(t.Dir) }

// Serve returns a registry config.yml whose s3 storage is tree t's bucket,
// through the counting proxy, uploading the tree first unless a complete
// upload is there.
func (s *S3) Serve(ctx context.Context, t Tree, logf func(string, ...any)) (string, error) {
	bucket := Bucket(t)
	done := filepath.Join(s.dir, bucket+".uploaded")
	if _, err := os.Stat(done); errors.Is(err, fs.ErrNotExist) {
		if err := s.upload(ctx, t, bucket, logf); err != nil {
			return "", err
		}
		if err := os.WriteFile(done, nil, 0o644); err != nil {
			return "", fmt.Errorf("mark upload complete: %w", err)
		}
	} else if err != nil {
		return "", fmt.Errorf("read upload marker: %w", err)
	}
	config := filepath.Join(s.configs, bucket+".yml")
	yml := s3test.RegistryConfig(s.proxy.URL, bucket, "/")
	if err := os.WriteFile(config, yml, 0o644); err != nil {
		return "", fmt.Errorf("write registry config: %w", err)
	}
	return config, nil
}

// uploadWorkers is the PUTs in flight while uploading a tree.
const uploadWorkers = 16

// upload puts every file of t's docker/ directory into a fresh bucket,
// keyed by its path below t.Dir.
func (s *S3) upload(ctx context.Context, t Tree, bucket string, logf func(string, ...any)) error {
	// What an interrupted upload left.
	if err := os.RemoveAll(filepath.Join(s.dir, "data", bucket)); err != nil {
		return fmt.Errorf("remove incomplete bucket: %w", err)
	}
	if err := s.srv.CreateBucket(ctx, bucket); err != nil {
		return err
	}
	logf("uploading the %s tree into S3 bucket %s (once)", t.Preset, bucket)
	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	keys := make(chan string)
	var wg sync.WaitGroup
	for range uploadWorkers {
		wg.Go(func() {
			for key := range keys {
				b, err := os.ReadFile(filepath.Join(t.Dir, filepath.FromSlash(key)))
				if err == nil {
					err = s.srv.PutObject(ctx, bucket, key, b)
				}
				if err != nil {
					cancel(err)
				}
			}
		})
	}
	n := 0
	err := filepath.WalkDir(filepath.Join(t.Dir, "docker"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(t.Dir, p)
		if err != nil {
			return err
		}
		select {
		case keys <- filepath.ToSlash(rel):
			n++
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(keys)
	wg.Wait()
	if err == nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		return fmt.Errorf("upload tree %s: %w", t.Preset, err)
	}
	logf("uploaded %d objects in %s", n, time.Since(start).Round(time.Second))
	return nil
}

// Requests returns the requests counted since the last call, by kind, and
// starts counting again.
func (s *S3) Requests() map[string]int64 {
	c := s.proxy.Counts()
	s.proxy.Reset()
	return c
}

// Close stops the proxy and the server; the buckets stay.
func (s *S3) Close() error {
	s.proxy.Close()
	return s.srv.Close()
}
