package queries

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/internal/registrytest"
)

// hazardsOf groups gc-hazards rows by "hazard/mode", their digests sorted.
func hazardsOf(rows []row) map[string][]string {
	out := map[string][]string{}
	for _, r := range rows {
		k := str(r["hazard"]) + "/" + str(r["mode"])
		out[k] = append(out[k], str(r["repo"])+"@"+str(r["digest"]))
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

// TestGCHazards builds each hazard through the registry's API and checks
// the report against what the registry's own GC says it would delete.
func TestGCHazards(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	tagged := image(1000)
	s.Push("h/app", "v1", tagged)
	bom := s.Push("h/app", "", registrytest.Artifact(tagged, sbom))
	notags := s.Push("h/notags", "", image(1001))
	lo := s.PushBlob("h/lo", registrytest.Layer(1002, 300))
	// The mark's skip (see gcShapes): the child's config and layer go.
	child := registrytest.Image(registrytest.ImageOptions{Seed: 1003, OCI: true, Layers: 1})
	idx := registrytest.Index(child, arm(1004))
	s.Push("order/a-first", "v1", idx)
	s.DeleteManifest("order/a-first", child.Digest())
	s.Push("order/b-second", "v1", idx)
	uuid, err := reg.StartUpload("h/app", []byte("in flight"))
	if err != nil {
		t.Fatal(err)
	}
	db := buildIndex(t, reg.Root(), "filesystem")
	gcDefault, gcUntagged := registryGC(t, reg.Driver(), false), registryGC(t, reg.Driver(), true)

	// An hour after the pushes: nothing is recent.
	later := map[string]string{"now": fmt.Sprint(time.Now().Add(2 * time.Hour).Unix())}
	got := hazardsOf(runReport(t, db, "gc-hazards", later))
	childBlobs := []string{"order/b-second@" + digestOf(child.Config), "order/b-second@" + digestOf(child.Layers[0])}
	slices.Sort(childBlobs)
	want := map[string][]string{
		"referrer-deleted/delete-untagged":    {"h/app@" + bom.String()},
		"no-tags/delete-untagged":             {"h/notags@" + notags.String()},
		"layers-only-blob/always":             {"h/lo@" + lo.String()},
		"tagged-blob-deleted/delete-untagged": childBlobs,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("gc-hazards =\n%v\nwant\n%v", got, want)
	}

	// What the report calls deleted, the registry's GC deletes.
	for _, h := range []struct {
		key  string
		gc   []string
		repo bool // the GC names "repo@digest", not the digest alone
	}{
		{"referrer-deleted/delete-untagged", gcUntagged.Manifests, true},
		{"tagged-blob-deleted/delete-untagged", gcUntagged.Blobs, false},
		{"layers-only-blob/always", gcDefault.Blobs, false},
	} {
		for _, rd := range got[h.key] {
			item := rd
			if !h.repo {
				item = rd[len(rd)-71:]
			}
			if !slices.Contains(h.gc, item) {
				t.Errorf("%s lists %s, which the registry's GC keeps", h.key, rd)
			}
		}
	}

	// Right after the pushes, the unreferenced blobs and the upload are recent.
	now := map[string]string{"now": fmt.Sprint(time.Now().Unix())}
	recent := hazardsOf(runReport(t, db, "gc-hazards", now))
	if n := len(recent["recent-blob/always"]); n != len(gcDefault.Blobs) {
		t.Errorf("recent-blob/always lists %d blobs, want the %d the default GC deletes", n, len(gcDefault.Blobs))
	}
	if n := len(recent["recent-blob/delete-untagged"]); n != len(gcUntagged.Blobs)-len(gcDefault.Blobs) {
		t.Errorf("recent-blob/delete-untagged lists %d blobs, want %d", n, len(gcUntagged.Blobs)-len(gcDefault.Blobs))
	}
	if got := recent["upload-in-progress/always"]; len(got) != 1 || got[0] != "h/app@" {
		t.Errorf("upload-in-progress = %v, want upload %s of h/app", got, uuid)
	}
}

func digestOf(b []byte) string { return digest.FromBytes(b).String() }

// TestGCHazardsAborts builds storage on which the registry's GC stops with
// an error, and checks that the registry does stop and the report says so.
func TestGCHazardsAborts(t *testing.T) {
	tests := []struct {
		name     string
		breakIt  func(t *testing.T, reg *registrytest.Registry)
		wantRepo string // the repository the gc-aborts row names
	}{
		{
			name: "a repository without _layers",
			breakIt: func(t *testing.T, reg *registrytest.Registry) {
				removeAll(t, storagePath(reg, "repositories", "x", "_layers"))
			},
			wantRepo: "x",
		},
		{
			name: "a manifest that is not JSON",
			breakIt: func(t *testing.T, reg *registrytest.Registry) {
				d := image(1100).Digest()
				if err := os.WriteFile(storagePath(reg, "blobs", "sha256", d.Encoded()[:2], d.Encoded(), "data"), []byte("{truncated"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantRepo: "x",
		},
		{
			name: "a repository name the registry cannot parse",
			breakIt: func(t *testing.T, reg *registrytest.Registry) {
				if err := os.CopyFS(storagePath(reg, "repositories", "Upper"), os.DirFS(storagePath(reg, "repositories", "x"))); err != nil {
					t.Fatal(err)
				}
			},
			wantRepo: "Upper",
		},
		{
			name: "a revision link with a trailing newline",
			breakIt: func(t *testing.T, reg *registrytest.Registry) {
				d := image(1100).Digest()
				if err := os.WriteFile(storagePath(reg, "repositories", "x", "_manifests", "revisions", "sha256", d.Encoded(), "link"), []byte(d.String()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantRepo: "x",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := registrytest.Start(t)
			reg.Steps(t).Push("x", "v1", image(1100))
			tt.breakIt(t, reg)
			if err := runGC(t, reg, false); err == nil {
				t.Fatal("the registry's GC did not stop: the scenario tests nothing")
			}
			db := buildIndex(t, reg.Root(), "filesystem")
			got := hazardsOf(runReport(t, db, "gc-hazards", nil))
			if !slices.ContainsFunc(got["gc-aborts/always"], func(s string) bool { return strings.HasPrefix(s, tt.wantRepo+"@") }) {
				t.Errorf("gc-hazards = %v, want a gc-aborts row for %s", got, tt.wantRepo)
			}
		})
	}
}
