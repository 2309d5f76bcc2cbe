package gc

import (
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/internal/registrygc"
	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/internal/sample"
)

// The modes parity is checked in, each against the registry's own GC in
// the mode it corresponds to.
var modes = []struct {
	name           string
	opts           Options
	removeUntagged bool
}{
	{name: "default", opts: Options{}},
	{name: "delete-untagged", opts: Options{DeleteUntagged: true}, removeUntagged: true},
	{name: "delete-untagged keep-referrers", opts: Options{DeleteUntagged: true, KeepReferrers: true}, removeUntagged: true},
}

// safer is where a shape expects regsql to keep what the registry's GC
// deletes, per mode name.
type safer struct {
	// reasons are the Retained reasons the plan reports.
	reasons map[string][]Reason
	// marked are blobs the registry deletes that regsql's own mark keeps
	// (no Retained reason: regsql just does not have the defect).
	marked map[string][]digest.Digest
}

// gcShapes are registries of different shapes on which regsql's sweep must
// agree with distribution's MarkAndSweep, but for what safer says.
var gcShapes = []struct {
	name     string
	populate func(s registrytest.Steps) safer
}{
	{
		name: "sample registry",
		populate: func(s registrytest.Steps) safer {
			if err := sample.Populate(s.Registry().Client); err != nil {
				s.T().Fatal(err)
			}
			// staging/cache has only _layers; team/api has an SBOM of a
			// tagged image pushed by digest only.
			return safer{reasons: map[string][]Reason{
				"default":                        {ReasonLayersOnly},
				"delete-untagged":                {ReasonLayersOnly},
				"delete-untagged keep-referrers": {ReasonLayersOnly, ReasonReferrer},
			}}
		},
	},
	{
		name: "index children",
		populate: func(s registrytest.Steps) safer {
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
			return safer{}
		},
	},
	{
		name: "referrers",
		populate: func(s registrytest.Steps) safer {
			v1 := image(30)
			s.Push("signed/app", "v1", v1)
			s.Push("signed/app", "sha256-x.sig", registrytest.Artifact(v1, signature))
			s.Push("signed/app", "", registrytest.Artifact(v1, sbom))
			// An image whose tag was deleted, and its signature: both go
			// with --delete-untagged, referrers kept or not.
			v2 := image(31)
			s.Push("signed/app", "v2", v2)
			s.Push("signed/app", "", registrytest.Artifact(v2, signature))
			s.DeleteTag("signed/app", "v2")
			// An attestation of an index child, and a signature of that
			// attestation: referrers are kept recursively.
			child := image(32)
			s.Push("signed/multi", "v1", registrytest.Index(child, arm(33)))
			att := registrytest.Artifact(child, "application/vnd.in-toto+json")
			s.Push("signed/multi", "", att)
			s.Push("signed/multi", "", registrytest.Artifact(att, signature))
			return safer{reasons: map[string][]Reason{
				"delete-untagged keep-referrers": {ReasonReferrer},
			}}
		},
	},
	{
		name: "blobs shared across repositories",
		populate: func(s registrytest.Steps) safer {
			base := registrytest.Layer(900, 2048)
			s.Push("shared/a", "v1", image(40, base))
			s.Push("shared/b", "v1", image(41, base))
			// Two tags on one digest, one of them deleted: still tagged.
			s.Push("shared/b", "v2", image(42, base))
			s.Push("shared/b", "also-v2", image(42, base))
			s.DeleteTag("shared/b", "v2")
			// The same image tagged in one repository and pushed by digest
			// only into another, which has no tags directory at all.
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
			return safer{reasons: map[string][]Reason{
				"default":                        {ReasonLayersOnly},
				"delete-untagged":                {ReasonLayersOnly, ReasonNoTagsDir},
				"delete-untagged keep-referrers": {ReasonLayersOnly, ReasonNoTagsDir},
			}}
		},
	},
	{
		name: "index child deleted from an earlier repository",
		populate: func(s registrytest.Steps) safer {
			// The registry's mark skips a digest it marked before: it first
			// meets the child in a/first, where it was deleted, so in
			// b/second, where the same index is tagged, it marks the child
			// without its config and layers, and --delete-untagged deletes
			// them. regsql's mark does not depend on the order.
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
			lost := blobsOf(child)[:0]
			for _, d := range blobsOf(child) {
				if d != child.Digest() {
					lost = append(lost, d)
				}
			}
			return safer{marked: map[string][]digest.Digest{
				"delete-untagged":                lost,
				"delete-untagged keep-referrers": lost,
			}}
		},
	},
}

// TestAgainstRegistry pushes registries of several shapes and, in each
// mode, checks the plan against distribution's own MarkAndSweep on the same
// storage (parity), then executes it on a copy of the storage (execute):
// on the filesystem, and on S3 through the same drivers.
func TestAgainstRegistry(t *testing.T) {
	registrytest.ForEachBackend(t, testAgainstRegistry)
}

func testAgainstRegistry(t *testing.T, backend registrytest.Backend) {
	for _, shape := range gcShapes {
		t.Run(shape.name, func(t *testing.T) {
			reg := registrytest.Start(t, registrytest.WithBackend(backend))
			want := shape.populate(reg.Steps(t))
			for _, mode := range modes {
				t.Run(mode.name, func(t *testing.T) {
					t.Run("parity", func(t *testing.T) {
						p := plan(t, reg, mode.opts)
						checkParity(t, p, registryGC(t, reg, mode.removeUntagged), want.reasons[mode.name], want.marked[mode.name])
					})
					if backend == registrytest.S3 && mode.name != "delete-untagged" {
						// Executing costs a copy of the bucket and
						// two pulls of everything through the S3
						// registry: on S3 the mode that removes the
						// most stands for the others.
						return
					}
					t.Run("execute", func(t *testing.T) {
						testExecute(t, reg, mode.opts, mode.removeUntagged, want.reasons[mode.name], want.marked[mode.name])
					})
				})
			}
		})
	}
}

// checkParity checks a plan against the registry's dry run: the registry
// deletes exactly what the plan sweeps, what it retains, and marked;
// the plan removes the layer links the registry would to the blobs both
// delete; the plan retains for exactly the reasons given.
func checkParity(t *testing.T, p *Plan, reg registrygc.Result, reasonsWant []Reason, marked []digest.Digest) {
	t.Helper()
	blobs := items(p, KindBlob)
	kept := retained(p, KindBlob, "")
	got := union(blobs, kept, strs(marked))
	if !slices.Equal(got, strs(reg.Blobs)) || len(blobs)+len(kept)+len(marked) != len(got) {
		t.Errorf("swept blobs %v\n+ retained %v\n+ kept by the mark %v\nwant (MarkAndSweep) %v", blobs, kept, marked, reg.Blobs)
	}

	revisions := items(p, KindRevision)
	keptRevisions := retained(p, KindRevision, "")
	if got := union(revisions, keptRevisions); !slices.Equal(got, reg.Manifests) {
		t.Errorf("swept revisions %v\n+ retained %v\nwant (MarkAndSweep) %v", revisions, keptRevisions, reg.Manifests)
	}

	var wantLinks []string
	for _, l := range reg.LayerLinks {
		_, d, _ := strings.Cut(l, "@")
		if slices.Contains(blobs, d) {
			wantLinks = append(wantLinks, l)
		}
	}
	if got := items(p, KindLayerLink); !slices.Equal(got, wantLinks) {
		t.Errorf("swept layer links %v, want (MarkAndSweep's to the blobs swept) %v", got, wantLinks)
	}

	if got := reasons(p); !slices.Equal(got, reasonsWant) {
		t.Errorf("retained for %v, want %v\n%+v", got, reasonsWant, p.Retained)
	}
	if len(p.Held) > 0 || p.MarkIncomplete != "" {
		t.Errorf("plan holds %v, mark incomplete %q; want neither on a healthy registry", p.Held, p.MarkIncomplete)
	}
}
