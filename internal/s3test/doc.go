// Package s3test runs a real S3 server for tests: versitygw (the Versity S3
// Gateway, github.com/versity/versitygw) serving a posix directory on
// 127.0.0.1, one process per Server.
//
// The binary is built by the Makefile (`make tools`, which `make test`
// runs) into build/tools/versitygw-<Version>; $VERSITYGW names another.
// Start skips the test when the binary is missing, except under CI=true,
// where it fails: CI must run the S3 suite, never skip it silently.
//
//	srv := s3test.Start(t, s3test.Options{})
//	bucket := srv.NewBucket(t)
//	params := srv.DriverParameters(bucket, "/registry") // for distribution's s3 driver
//
// Proxy sits between a client and a Server: it counts requests by kind
// (list, get, head, put, delete) and can answer some with 503 SlowDown, as
// a throttling S3 endpoint does.
//
// The posix backend maps bucket <b>, key <k> to the file <dir>/<b>/<k>: a
// registry storage tree on disk is a bucket as it stands (Options.Dir and
// Options.BucketLinks serve existing trees without copying them).
package s3test
