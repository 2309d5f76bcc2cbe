package queries

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/internal/registrytest"
)

// blobBytes sums the sizes of the blob data files in the registry's storage.
func blobBytes(t *testing.T, reg *registrytest.Registry) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(storagePath(reg, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "data" {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReclaimableEndToEnd deletes a candidate list through the registry's
// API the way the deleter does, runs the registry's own garbage collector
// for real, and checks that the bytes freed on disk are what reclaimable
// predicted.
func TestReclaimableEndToEnd(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	base := registrytest.Layer(3000, 4096)
	img := func(seed int64) *registrytest.Manifest {
		return registrytest.Image(registrytest.ImageOptions{Seed: seed, Base: [][]byte{base}, OCI: true, Layers: 2})
	}
	w1, w2, w3, w4 := img(301), img(302), img(303), img(304)
	s.Push("shop/web", "v1", w1)
	s.Push("shop/web", "stable", w1)
	s.Push("shop/web", "v2", w2)
	s.Push("shop/web", "v3", w3)
	s.Push("shop/web", "v4", w4)
	s.Push("shop/web", "", registrytest.Artifact(w3, signature)) // stays, an orphan
	c1, c2 := img(305), arm(306)
	idx := registrytest.Index(c1, c2)
	s.Push("shop/web", "multi", idx)
	a1, a2 := img(310), img(311)
	s.Push("shop/api", "v1", a1)
	s.Push("shop/api", "", a2)
	s.Push("shop/api", "mirror", w2) // w2's blobs stay for shop/api
	k1, k2 := img(320), arm(321)
	s.Push("shop/kept-index", "k", registrytest.Index(k1, k2))
	s.PushBlob("shop/api", registrytest.Layer(330, 1500)) // garbage already

	list := []Candidate{
		{Repo: "shop/web", Tag: "v1", Digest: w1.Digest()}, // stable keeps w1: a tag delete
		{Repo: "shop/web", Tag: "v2"},                      // shop/web's last tag on w2
		{Repo: "shop/web", Tag: "v3", Digest: w3.Digest()},
		{Repo: "shop/web", Digest: w4.Digest()}, // v4 is not in the list: stays
		{Repo: "shop/web", Tag: "multi"},        // the index and its children
		{Repo: "shop/api", Digest: a2.Digest()},
		{Repo: "shop/kept-index", Digest: k1.Digest()},     // a child of a kept index: stays
		{Repo: "shop/web", Tag: "v9"},                      // no such tag
		{Repo: "shop/api", Tag: "v1", Digest: w3.Digest()}, // stale: v1 names a1
	}
	db := buildIndex(t, reg.Root(), "filesystem")
	rows := runReport(t, db, "reclaimable", map[string]string{CandidatesParam: CandidatesJSON(list)})
	byScope := map[string]row{}
	for _, r := range rows {
		key := str(r["scope"])
		if key == "repo" {
			key += ":" + str(r["repo"])
		}
		byScope[key] = r
	}
	checks := []struct {
		scope, col string
		want       any
	}{
		{"repo:shop/web", "tags_deleted", int64(4)},
		{"repo:shop/web", "manifests_deleted", int64(5)},
		{"repo:shop/api", "tags_deleted", int64(0)},
		{"repo:shop/api", "manifests_deleted", int64(1)},
		{"total", "tags_deleted", int64(4)},
		{"total", "manifests_deleted", int64(6)},
		{"already_unreferenced", "blobs", int64(1)},
	}
	for _, c := range checks {
		if got := byScope[c.scope][c.col]; got != c.want {
			t.Errorf("reclaimable %s %s = %v, want %v (rows %v)", c.scope, c.col, got, c.want, rows)
		}
	}
	if note := str(byScope["total"]["note"]); !strings.Contains(note, "2 row(s) name nothing") || !strings.Contains(note, "2 manifest(s) stay") {
		t.Errorf("reclaimable total note = %q, want 2 rows naming nothing and 2 manifests staying", note)
	}
	predicted := byScope["total"]["bytes"].(int64) + byScope["already_unreferenced"]["bytes"].(int64)

	// What the deleter does with that list, through the API.
	s.DeleteTag("shop/web", "v1")
	for _, d := range []digest.Digest{w2.Digest(), w3.Digest(), idx.Digest(), c1.Digest(), c2.Digest()} {
		s.DeleteManifest("shop/web", d)
	}
	s.DeleteManifest("shop/api", a2.Digest())

	before := blobBytes(t, reg)
	if err := runGC(t, reg, false); err != nil {
		t.Fatal(err)
	}
	freed := before - blobBytes(t, reg)
	t.Logf("GC freed %d of %d blob bytes; reclaimable predicted %d", freed, before, predicted)
	if freed != predicted {
		t.Errorf("the registry's GC freed %d bytes, reclaimable predicted %d (total + already unreferenced)", freed, predicted)
	}
	if freed == 0 {
		t.Error("the scenario frees nothing: it tests nothing")
	}

	// Every tag that should stay still pulls.
	for _, ref := range []struct{ repo, tag string }{
		{"shop/web", "stable"}, {"shop/web", "v4"}, {"shop/api", "v1"}, {"shop/api", "mirror"}, {"shop/kept-index", "k"},
	} {
		if _, err := reg.Pull(ref.repo, ref.tag); err != nil {
			t.Errorf("pull %s:%s after GC: %v", ref.repo, ref.tag, err)
		}
	}
}
