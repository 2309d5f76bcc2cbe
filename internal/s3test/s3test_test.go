package s3test_test

import (
	"context"
	"errors"
	"maps"
	"testing"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws"

	"github.com/regsql/regsql/internal/s3test"
)

// TestServerWithDriver writes and reads through distribution's own s3
// driver, by way of the counting proxy, and expects the proxy to have seen
// each request by its kind.
func TestServerWithDriver(t *testing.T) {
	srv := s3test.Start(t, s3test.Options{})
	proxy := s3test.StartProxy(t, srv.URL)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	params := srv.DriverParameters(bucket, "/reg")
	params["regionendpoint"] = proxy.URL
	drv, err := factory.Create(ctx, "s3", params)
	if err != nil {
		t.Fatalf("factory.Create(s3) error = %v", err)
	}

	if err := drv.PutContent(ctx, "/a/b/link", []byte("sha256:x")); err != nil {
		t.Fatalf("PutContent() error = %v\n%s", err, srv.Output())
	}
	got, err := drv.GetContent(ctx, "/a/b/link")
	if err != nil || string(got) != "sha256:x" {
		t.Fatalf("GetContent() = %q, %v, want the content put", got, err)
	}
	list, err := drv.List(ctx, "/a")
	if err != nil || len(list) != 1 || list[0] != "/a/b" {
		t.Errorf("List(/a) = %v, %v, want [/a/b]", list, err)
	}
	fi, err := drv.Stat(ctx, "/a/b/link")
	if err != nil || fi.Size() != int64(len("sha256:x")) || fi.ModTime().IsZero() {
		t.Errorf("Stat() = %+v, %v, want its size and a time", fi, err)
	}
	_, err = drv.GetContent(ctx, "/a/nope")
	var nf storagedriver.PathNotFoundError
	if !errors.As(err, &nf) {
		t.Errorf("GetContent(missing) error = %v, want PathNotFoundError", err)
	}

	want := map[string]int64{s3test.KindPut: 1, s3test.KindGet: 2, s3test.KindList: 1, s3test.KindHead: 1}
	if got := proxy.Counts(); !maps.Equal(got, want) {
		t.Errorf("Counts() = %v, want %v", got, want)
	}
}

// TestProxyThrottles answers every request with 503 SlowDown and expects
// the driver to give up with that error, having retried.
func TestProxyThrottles(t *testing.T) {
	srv := s3test.Start(t, s3test.Options{})
	proxy := s3test.StartProxy(t, srv.URL)
	bucket := srv.NewBucket(t)
	params := srv.DriverParameters(bucket, "/")
	params["regionendpoint"] = proxy.URL
	ctx := context.Background()
	drv, err := factory.Create(ctx, "s3", params)
	if err != nil {
		t.Fatal(err)
	}
	proxy.Throttle(func(n int64) bool { return n <= 1 })
	if err := drv.PutContent(ctx, "/x", []byte("x")); err != nil {
		t.Fatalf("PutContent() after one throttled attempt: %v, want the SDK's retry to succeed", err)
	}
	if got := proxy.Counts()[s3test.KindInjected]; got != 1 {
		t.Errorf("throttled = %d, want 1", got)
	}
}

func TestBucketName(t *testing.T) {
	tests := []struct {
		name     string
		testName string
		n        int64
		want     string
	}{
		{name: "subtest", testName: "TestIndex/s3", n: 3, want: "t3-testindex-s3"},
		{name: "long", testName: "TestAVeryLongNameThatGoesOnAndOnAndOnForMoreThanSixtyThreeCharacters_", n: 12, want: "t12-testaverylongnamethatgoesonandonandonformorethansixtythreec"},
		{name: "trailing dash trimmed", testName: "Test_", n: 1, want: "t1-test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s3test.BucketName(tt.testName, tt.n); got != tt.want {
				t.Errorf("BucketName(%q, %d) = %q, want %q", tt.testName, tt.n, got, tt.want)
			}
		})
	}
}
