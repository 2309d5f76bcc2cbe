package index

import (
	"context"
	"fmt"
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
