package walker

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/distribution/distribution/v3/registry/storage/driver/factory"

	"github.com/regsql/regsql/internal/s3test"
)

// TestListRangesPartition lists a bucket whose names sit where the ranges
// of a listing meet: siblings that sort between a directory and its
// contents ("team-2/" and "team.x/" before "team/"), namespaces with
// repositories below them, a repository nested in another. Whatever the
// number of ranges, the listing must hold every key once, in order.
func TestListRangesPartition(t *testing.T) {
	srv := s3test.Start(t, s3test.Options{})
	bucket := srv.NewBucket(t)
	ctx := context.Background()

	var want []string
	put := func(key string) {
		t.Helper()
		if err := srv.PutObject(ctx, bucket, "docker/registry/v2/"+key, []byte(key)); err != nil {
			t.Fatal(err)
		}
		want = append(want, key)
	}
	for i := range 64 {
		sum := sha256.Sum256([]byte{byte(i)})
		put(fmt.Sprintf("blobs/sha256/%x/%x/data", sum[:1], sum))
	}
	var repos []string
	for _, team := range []string{"team", "team-2", "team.x", "teamz", "a", "a-b", "zz"} {
		repos = append(repos, team)
		for _, app := range []string{"app", "app-2", "app.v2", "app/sub", "app/sub-1"} {
			repos = append(repos, team+"/"+app)
		}
	}
	for i, repo := range repos {
		sum := sha256.Sum256([]byte(repo))
		put(fmt.Sprintf("repositories/%s/_manifests/revisions/sha256/%x/link", repo, sum))
		put(fmt.Sprintf("repositories/%s/_manifests/tags/v%d/current/link", repo, i))
		put(fmt.Sprintf("repositories/%s/_layers/sha256/%x/link", repo, sum))
	}
	slices.Sort(want)

	drv, err := factory.Create(ctx, "s3", srv.DriverParameters(bucket, ""))
	if err != nil {
		t.Fatalf("factory.Create(s3) error = %v", err)
	}
	// Cut at each directory a listing may be cut at (blob prefixes,
	// repository directories of the first two levels), the two ranges
	// either side hold every key.
	t.Run("every cut", func(t *testing.T) {
		s := NewDriverStorage(drv, DriverOptions{})
		dirs := map[string]bool{}
		for _, k := range want {
			parts := strings.Split(k, "/")
			for n := 2; n <= 3; n++ {
				dirs[strings.Join(parts[:n], "/")] = true
			}
		}
		for dir := range dirs {
			before, err := s.listRange(ctx, keyRange{until: dir})
			if err != nil {
				t.Fatalf("listRange(until %q) error = %v", dir, err)
			}
			after, err := s.listRange(ctx, keyRange{after: dir})
			if err != nil {
				t.Fatalf("listRange(after %q) error = %v", dir, err)
			}
			if got := append(before.keys, after.keys...); !slices.Equal(got, want) {
				t.Errorf("ranges cut at %q = %d keys, want %d:\n%s", dir, len(got), len(want), keyDiff(got, want))
			}
		}
	})
	for _, concurrency := range []int{1, 2, 5, 32} {
		t.Run(fmt.Sprintf("concurrency=%d", concurrency), func(t *testing.T) {
			s := NewDriverStorage(drv, DriverOptions{Concurrency: concurrency})
			cuts, err := s.cutPoints(ctx)
			if err != nil {
				t.Fatalf("cutPoints() error = %v", err)
			}
			if concurrency > 1 && len(cuts) == 0 {
				t.Fatalf("cutPoints() = none, want a split into up to %d ranges", concurrency)
			}
			l, err := s.list(ctx)
			if err != nil {
				t.Fatalf("list() error = %v", err)
			}
			if !slices.Equal(l.keys, want) {
				t.Errorf("list() with cuts %q = %d keys, want %d:\n%s", cuts, len(l.keys), len(want), keyDiff(l.keys, want))
			}
		})
	}
}

// keyDiff lists the keys only one of got and want holds, or repeated.
func keyDiff(got, want []string) string {
	count := map[string]int{}
	for _, k := range got {
		count[k]++
	}
	for _, k := range want {
		count[k]--
	}
	var out []string
	for k, n := range count {
		switch {
		case n > 0:
			out = append(out, fmt.Sprintf("+%s (%d more)", k, n))
		case n < 0:
			out = append(out, "-"+k)
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}
