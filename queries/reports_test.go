package queries

import (
	"fmt"
	"slices"
	"testing"

	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/internal/sample"
)

func image(seed int64, base ...[]byte) *registrytest.Manifest {
	return registrytest.Image(registrytest.ImageOptions{Seed: seed, Base: base, OCI: seed%2 == 0})
}

func arm(seed int64) *registrytest.Manifest {
	return registrytest.Image(registrytest.ImageOptions{Seed: seed, OCI: true, Architecture: "arm64", Variant: "v8"})
}

const (
	signature = "application/vnd.dev.cosign.artifact.sig.v1+json"
	sbom      = "application/spdx+json"
)

// gcShapes are registries of different shapes on which the GC reports must
// agree with distribution's own garbage collector.
var gcShapes = []struct {
	name     string
	populate func(s registrytest.Steps)
}{
	{
		name: "sample registry",
		populate: func(s registrytest.Steps) {
			if err := sample.Populate(s.Registry().Client); err != nil {
				s.T().Fatal(err)
			}
		},
	},
	{
		name: "index children",
		populate: func(s registrytest.Steps) {
			// A tagged OCI index and a tagged Docker manifest list, their
			// children pushed by digest only.
			s.Push("multi/arch", "v1", registrytest.Index(image(2), arm(3)))
			s.Push("multi/arch", "v2", registrytest.ManifestList(image(5), image(7)))
			// An index pushed by digest only: it and its children are untagged.
			s.Push("multi/arch", "", registrytest.Index(image(10), arm(11)))
			// A tag moved from an index to a plain image leaves the index
			// and its children untagged.
			s.Push("multi/arch", "moving", registrytest.Index(image(12), arm(13)))
			s.Push("multi/arch", "moving", image(14))
			// An index of indexes.
			s.Push("multi/nested", "v1", registrytest.Index(registrytest.Index(image(16), arm(17)), image(18)))
			// A child of multi/arch:v1 pushed by digest only into another
			// repository: untagged there, but the global mark keeps it.
			s.Push("multi/other", "", image(2))
			s.Push("multi/other", "keep", image(20))
		},
	},
	{
		name: "referrers",
		populate: func(s registrytest.Steps) {
			v1 := image(30)
			s.Push("signed/app", "v1", v1)
			s.Push("signed/app", "sha256-x.sig", registrytest.Artifact(v1, signature))
			s.Push("signed/app", "", registrytest.Artifact(v1, sbom))
			// An image whose tag was deleted, and its signature.
			v2 := image(31)
			s.Push("signed/app", "v2", v2)
			s.Push("signed/app", "", registrytest.Artifact(v2, signature))
			s.DeleteTag("signed/app", "v2")
			// An attestation of an index child.
			child := image(32)
			s.Push("signed/multi", "v1", registrytest.Index(child, arm(33)))
			s.Push("signed/multi", "", registrytest.Artifact(child, "application/vnd.in-toto+json"))
		},
	},
	{
		name: "blobs shared across repositories",
		populate: func(s registrytest.Steps) {
			base := registrytest.Layer(900, 2048)
			s.Push("shared/a", "v1", image(40, base))
			s.Push("shared/b", "v1", image(41, base))
			s.Push("shared/b", "v2", image(42, base))
			// The same image tagged in one repository and pushed by digest
			// only into another, which has no tags at all.
			s.Push("shared/c", "v1", image(43, base))
			s.Push("shared/untagged", "", image(43, base))
			s.Push("shared/untagged", "", image(44, base))
			// A manifest deleted by digest whose base stays in use.
			gone := s.Push("shared/a", "v0", image(45, base))
			s.DeleteManifest("shared/a", gone)
			// A blob no manifest references, and a directory with only _layers.
			s.PushBlob("shared/a", registrytest.Layer(901, 512))
			s.PushBlob("shared/layers-only", base)
			s.PushBlob("shared/layers-only", registrytest.Layer(902, 512))
			// A nested repository name that sorts between others.
			s.Push("shared/a/sub", "v1", image(46, base))
			s.Push("shared/a-b", "v1", image(47))
		},
	},
	{
		name: "index child deleted from an earlier repository",
		populate: func(s registrytest.Steps) {
			// The registry's mark skips a digest it marked before: here it
			// first meets the child in a/first, where it was deleted, so in
			// b/second, where the same index is tagged, it marks the child
			// without its config and layers, and --delete-untagged deletes them.
			child := image(50)
			idx := registrytest.Index(child, arm(51))
			s.Push("order/a-first", "v1", idx)
			s.DeleteManifest("order/a-first", child.Digest())
			s.Push("order/b-second", "v1", idx)
			// The same with the deletion in the later repository: no skip.
			child2 := image(52)
			idx2 := registrytest.Index(child2, arm(53))
			s.Push("order/c-kept", "v1", idx2)
			s.Push("order/d-deleted", "v1", idx2)
			s.DeleteManifest("order/d-deleted", child2.Digest())
			// The catalog walks depth first: x/sub comes before x-y, though
			// "x-y" < "x/sub" as strings. The deletion in x-y is later: no skip.
			child3 := image(54)
			idx3 := registrytest.Index(child3, arm(55))
			s.Push("order/x", "v1", image(56))
			s.Push("order/x-y", "v1", idx3)
			s.DeleteManifest("order/x-y", child3.Digest())
			s.Push("order/x/sub", "v1", idx3)
		},
	},
}

// TestGCReportsMatchRegistry checks unreferenced-blobs,
// unreferenced-blobs-untagged and unreferenced-manifests-untagged against
// distribution's MarkAndSweep dry run on the same storage, on the
// filesystem and on S3.
func TestGCReportsMatchRegistry(t *testing.T) {
	registrytest.ForEachBackend(t, testGCReportsMatchRegistry)
}

func testGCReportsMatchRegistry(t *testing.T, backend registrytest.Backend) {
	for _, shape := range gcShapes {
		t.Run(shape.name, func(t *testing.T) {
			reg := registrytest.Start(t, registrytest.WithBackend(backend))
			shape.populate(reg.Steps(t))
			db := indexRegistry(t, reg)

			for _, untagged := range []bool{false, true} {
				t.Run(fmt.Sprintf("RemoveUntagged=%v", untagged), func(t *testing.T) {
					want := registryGC(t, reg.Driver(), untagged)
					t.Logf("MarkAndSweep: %d blobs, %d manifests eligible", len(want.Blobs), len(want.Manifests))
					report := "unreferenced-blobs"
					if untagged {
						report = "unreferenced-blobs-untagged"
					}
					if got := column(runReport(t, db, report, nil), "digest"); !slices.Equal(got, want.Blobs) {
						t.Errorf("%s = %v,\nwant (MarkAndSweep) %v", report, got, want.Blobs)
					}
					if !untagged {
						if len(want.Manifests) != 0 {
							t.Errorf("MarkAndSweep without RemoveUntagged deletes manifests %v", want.Manifests)
						}
						return
					}
					var got []string
					for _, r := range runReport(t, db, "unreferenced-manifests-untagged", nil) {
						got = append(got, fmt.Sprintf("%s@%s", r["repo"], r["digest"]))
					}
					slices.Sort(got)
					if !slices.Equal(got, want.Manifests) {
						t.Errorf("unreferenced-manifests-untagged = %v,\nwant (MarkAndSweep) %v", got, want.Manifests)
					}
				})
			}
		})
	}
}
