package index

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/migrations"
	"github.com/regsql/regsql/walker"
)

// BenchmarkBulkInsert builds an index of 1,000 image manifests with 100
// layers each: 100,000 refs rows and as many blobs, the shape of a
// mid-sized registry, and reports rows written per second.
func BenchmarkBulkInsert(b *testing.B) {
	const (
		manifests = 1000
		layers    = 100
	)
	var recs []any
	layer := func(i int) digest.Digest { return digest.FromString(fmt.Sprint("layer ", i)) }
	for i := range manifests * layers {
		recs = append(recs, walker.Blob{Digest: layer(i), Size: int64(i), ModifiedAt: time.Unix(int64(i), 0)})
	}
	recs = append(recs, walker.Repository{Name: "bench", Listed: true})
	for m := range manifests {
		d := digest.FromString(fmt.Sprint("manifest ", m))
		man := walker.Manifest{Digest: d, MediaType: ociImage, SchemaVersion: 2, Kind: walker.KindImage, Size: 1000,
			Body: []byte(`{"schemaVersion":2}`)}
		for l := range layers {
			man.References = append(man.References, walker.Reference{Kind: walker.RefLayer, Position: l, Digest: layer(m*layers + l), Size: 1})
		}
		recs = append(recs,
			walker.Revision{Repo: "bench", Digest: d, Target: d, LinkedAt: time.Unix(1, 0)},
			walker.Tag{Repo: "bench", Name: fmt.Sprint("t", m), Digest: d, PushedAt: time.Unix(1, 0)},
			man)
	}
	rows := float64(2*manifests*layers + 3*manifests)
	b.ResetTimer()
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "regsql.db")
		if _, err := build(context.Background(), path, migrations.FS, BuildOptions{}, feed(recs...)); err != nil {
			b.Fatalf("build() error = %v", err)
		}
	}
	b.ReportMetric(rows*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// benchTreeEnv names a registry storage tree, as regsql index --root takes
// it, for the benchmarks that need a large one (make bench sets it to the
// largest tree it generated); absolute, for go test runs in the package's
// directory. They skip without it.
const benchTreeEnv = "REGSQL_BENCH_TREE"

// BenchmarkBuildTree times the database side of a full build of the tree
// at $REGSQL_BENCH_TREE alone: the walk's records are read into memory
// first, untimed, and each iteration loads them into a new index, builds
// its indexes and derives its tables, as a build does beside and after its
// walk. Beside walker's BenchmarkWalkTree, the walk alone, it says which of
// the two bounds a build: they share the machine's cores.
func BenchmarkBuildTree(b *testing.B) {
	root := os.Getenv(benchTreeEnv)
	if root == "" {
		b.Skipf("$%s names no storage tree", benchTreeEnv)
	}
	st, err := walker.OpenRoot(root)
	if err != nil {
		b.Fatal(err)
	}
	var tape records
	if _, err := walker.Walk(context.Background(), st, &tape, walker.Options{}); err != nil {
		b.Fatalf("Walk() error = %v", err)
	}
	path := filepath.Join(b.TempDir(), "regsql.db")
	b.ResetTimer()
	for b.Loop() {
		if _, err := build(context.Background(), path, migrations.FS, BuildOptions{}, feed(tape...)); err != nil {
			b.Fatalf("build() error = %v", err)
		}
	}
	b.ReportMetric(float64(len(tape)), "records")
}

// records is a Sink that keeps every record in the order sent, for feed.
type records []any

func (r *records) Repository(x walker.Repository) error { return r.add(x) }
func (r *records) Tag(x walker.Tag) error               { return r.add(x) }
func (r *records) TagHistory(x walker.TagHistory) error { return r.add(x) }
func (r *records) Revision(x walker.Revision) error     { return r.add(x) }
func (r *records) LayerLink(x walker.LayerLink) error   { return r.add(x) }
func (r *records) Upload(x walker.Upload) error         { return r.add(x) }
func (r *records) Blob(x walker.Blob) error             { return r.add(x) }
func (r *records) Manifest(x walker.Manifest) error     { return r.add(x) }
func (r *records) Problem(x walker.Problem) error       { return r.add(x) }

func (r *records) add(x any) error {
	*r = append(*r, x)
	return nil
}
