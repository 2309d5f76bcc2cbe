package gc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/walker"
)

// The tests below each build one situation where regsql is deliberately
// safer than the registry's own garbage collector, show what the registry
// would delete, and that regsql keeps it and says why.

func TestKeepReferrers(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	img := image(1)
	s.Push("app", "v1", img)
	sb := registrytest.Artifact(img, sbom)
	s.Push("app", "", sb)
	sbSig := registrytest.Artifact(sb, signature) // a signature of the SBOM: kept recursively
	s.Push("app", "", sbSig)
	old := image(2)
	s.Push("app", "v2", old)
	oldSig := registrytest.Artifact(old, signature)
	s.Push("app", "", oldSig)
	s.DeleteTag("app", "v2") // its signature goes with it
	ageAll(t, reg, 48*time.Hour)

	refs := func(ms ...*registrytest.Manifest) []string {
		var out []string
		for _, m := range ms {
			out = append(out, "app@"+m.Digest().String())
		}
		slices.Sort(out)
		return out
	}

	without := plan(t, reg, Options{DeleteUntagged: true})
	if got, want := items(without, KindRevision), refs(sb, sbSig, old, oldSig); !slices.Equal(got, want) {
		t.Errorf("without KeepReferrers: revisions swept = %v, want %v", got, want)
	}
	if got, want := registryGC(t, reg, true).Manifests, refs(sb, sbSig, old, oldSig); !slices.Equal(got, want) {
		t.Errorf("MarkAndSweep deletes %v, want %v", got, want)
	}

	p := plan(t, reg, Options{DeleteUntagged: true, KeepReferrers: true, Grace: 24 * time.Hour})
	if got, want := items(p, KindRevision), refs(old, oldSig); !slices.Equal(got, want) {
		t.Errorf("with KeepReferrers: revisions swept = %v, want %v", got, want)
	}
	if got, want := retained(p, KindRevision, ReasonReferrer), refs(sb, sbSig); !slices.Equal(got, want) {
		t.Errorf("with KeepReferrers: retained as referrers %v, want %v", got, want)
	}
	execute(t, p, openStorage(t, reg))
	for _, m := range []*registrytest.Manifest{img, sb, sbSig} {
		if _, err := reg.Pull("app", m.Digest().String()); err != nil {
			t.Errorf("Pull(app@%s) after gc: %v", m.Digest(), err)
		}
	}
}

func TestLayersOnlyRepository(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	s.Push("app", "v1", image(1))
	// The first push into a new repository, its manifest not there yet:
	// the directory has _layers and no _manifests.
	d := s.PushBlob("new/app", registrytest.Layer(2, 300))
	ageAll(t, reg, 48*time.Hour)

	if got := registryGC(t, reg, false).Blobs; !slices.Equal(got, []digest.Digest{d}) {
		t.Errorf("MarkAndSweep deletes %v, want the layers-only repository's blob %s", got, d)
	}
	p := plan(t, reg, Options{Grace: 24 * time.Hour})
	if len(p.Items) > 0 {
		t.Errorf("plan sweeps %v, want nothing", p.Items)
	}
	if got, want := retained(p, KindBlob, ReasonLayersOnly), []string{d.String()}; !slices.Equal(got, want) {
		t.Errorf("retained as layers-only %v, want %v", got, want)
	}

	// Swept on request, with its link: the registry leaves it dangling.
	p = plan(t, reg, Options{Grace: 24 * time.Hour, SweepLayersOnlyRepos: true})
	if got, want := items(p, KindBlob), []string{d.String()}; !slices.Equal(got, want) {
		t.Errorf("with SweepLayersOnlyRepos: blobs swept = %v, want %v", got, want)
	}
	if got, want := items(p, KindLayerLink), []string{"new/app@" + d.String()}; !slices.Equal(got, want) {
		t.Errorf("with SweepLayersOnlyRepos: layer links swept = %v, want %v", got, want)
	}
	st := openStorage(t, reg)
	execute(t, p, st)
	if _, err := st.Stat(context.Background(), walker.LayerLinkDir("new/app", d)); err == nil {
		t.Errorf("layer link %s of new/app is still there", d)
	}
}

func TestNoTagsDirectory(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	s.Push("app", "v1", image(1))
	// Pushed by digest only, never tagged: no tags/ directory.
	ci := image(2)
	s.Push("ci/cache", "", ci)
	// Every tag deleted: tags/ is there, empty. Its revision goes, as
	// with the registry.
	gone := image(3)
	s.Push("old/app", "v1", gone)
	s.DeleteTag("old/app", "v1")
	ageAll(t, reg, 48*time.Hour)

	res := registryGC(t, reg, true)
	if !slices.Equal(res.Manifests, []string{"old/app@" + gone.Digest().String()}) {
		t.Errorf("MarkAndSweep deletes manifests %v, want only old/app's", res.Manifests)
	}
	if !slices.Contains(res.Blobs, ci.Digest()) {
		t.Errorf("MarkAndSweep deletes %v; want it to delete ci/cache's manifest %s (the defect), though not its revision", res.Blobs, ci.Digest())
	}

	p := plan(t, reg, Options{DeleteUntagged: true})
	if got, want := items(p, KindRevision), []string{"old/app@" + gone.Digest().String()}; !slices.Equal(got, want) {
		t.Errorf("revisions swept = %v, want %v", got, want)
	}
	if got, want := retained(p, KindBlob, ReasonNoTagsDir), strs(blobsOf(ci)); !slices.Equal(got, want) {
		t.Errorf("retained for no tags directory %v, want ci/cache's blobs %v", got, want)
	}
	execute(t, p, openStorage(t, reg))
	if _, err := reg.Pull("ci/cache", ci.Digest().String()); err != nil {
		t.Errorf("Pull(ci/cache@%s) after gc: %v", ci.Digest(), err)
	}
}

// TestMarkIsOrderIndependent: the registry's mark skips the references of
// a digest it marked before, so it loses the blobs of an index child it
// first met in a repository that deleted it.
func TestMarkIsOrderIndependent(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	child := image(1)
	idx := registrytest.Index(child, arm(2))
	s.Push("a/first", "v1", idx)
	s.DeleteManifest("a/first", child.Digest())
	s.Push("b/second", "v1", idx)
	ageAll(t, reg, 48*time.Hour)

	lost := strs(blobsOf(child)[:0])
	for _, d := range blobsOf(child) {
		if d != child.Digest() {
			lost = append(lost, d.String())
		}
	}
	if got := strs(registryGC(t, reg, true).Blobs); !slices.Equal(got, lost) {
		t.Errorf("MarkAndSweep deletes %v, want the child's config and layer %v", got, lost)
	}
	p := plan(t, reg, Options{DeleteUntagged: true})
	if len(p.Items) > 0 {
		t.Errorf("plan sweeps %v, want nothing", p.Items)
	}
	execute(t, p, openStorage(t, reg))
	if _, err := reg.Pull("b/second", "v1"); err != nil {
		t.Errorf("Pull(b/second:v1) after gc: %v", err)
	}
}

// TestNonSHA256Reference: a layer referenced by its sha512 digest is
// stored under its sha256, which the repository's sha512 layer link names.
// The registry marks the sha512 digest and deletes the blob.
func TestNonSHA256Reference(t *testing.T) {
	reg := registrytest.Start(t)
	layer := registrytest.Layer(1, 300)
	d512 := digest.SHA512.FromBytes(layer)
	pushBlobAs(t, reg, "app", layer, d512)
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	reg.Steps(t).PushBlob("app", cfg)
	m := v1.Manifest{
		MediaType: v1.MediaTypeImageManifest,
		Config:    v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		Layers:    []v1.Descriptor{{MediaType: v1.MediaTypeImageLayerGzip, Digest: d512, Size: int64(len(layer))}},
	}
	m.SchemaVersion = 2
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.PushManifest("app", "v1", v1.MediaTypeImageManifest, body); err != nil {
		t.Fatal(err)
	}
	ageAll(t, reg, 48*time.Hour)

	d256 := digest.FromBytes(layer)
	if got := registryGC(t, reg, false).Blobs; !slices.Equal(got, []digest.Digest{d256}) {
		t.Errorf("MarkAndSweep deletes %v, want the layer stored as %s", got, d256)
	}
	p := plan(t, reg, Options{})
	if len(p.Items) > 0 {
		t.Errorf("plan sweeps %v, want nothing", p.Items)
	}
	execute(t, p, openStorage(t, reg))
	if got := getBlob(t, reg, "app", d512); !bytes.Equal(got, layer) {
		t.Errorf("GET blob %s after gc = %d bytes, want the layer", d512, len(got))
	}
}

// pushBlobAs uploads data to repo under digest d, which may be of any
// algorithm the registry accepts.
func pushBlobAs(t *testing.T, reg *registrytest.Registry, repo string, data []byte, d digest.Digest) {
	t.Helper()
	resp, err := reg.HTTP.Post(reg.URL+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	base, err := url.Parse(reg.URL)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := base.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	req, err := http.NewRequest(http.MethodPut, loc.String(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = reg.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT blob %s: %s", d, resp.Status)
	}
}

// getBlob downloads blob d from repo and checks it against d, whatever
// its algorithm.
func getBlob(t *testing.T, reg *registrytest.Registry, repo string, d digest.Digest) []byte {
	t.Helper()
	resp, err := reg.HTTP.Get(reg.URL + "/v2/" + repo + "/blobs/" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET blob %s from %q: %s", d, repo, resp.Status)
	}
	v := d.Verifier()
	v.Write(b)
	if !v.Verified() {
		t.Fatalf("GET blob %s from %q: content does not verify", d, repo)
	}
	return b
}

// TestRevisionAlias: a revision link whose content names another digest
// than its path. The registry's GC enumerates by content, finds no
// revision link for it and skips it; regsql keeps both blobs.
func TestRevisionAlias(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	a, b := image(1), image(2)
	s.Push("app", "", a)
	s.Push("app", "", b)
	// Point a's revision link at b, and remove b's own.
	if err := writeFile(reg, path.Join(walker.RevisionDir("app", a.Digest()), "link"), b.Digest().String()); err != nil {
		t.Fatal(err)
	}
	st := openStorage(t, reg)
	if err := st.Remove(context.Background(), walker.RevisionDir("app", b.Digest())); err != nil {
		t.Fatal(err)
	}
	ageAll(t, reg, 48*time.Hour)

	if got := registryGC(t, reg, false).Blobs; !slices.Contains(got, b.Digest()) {
		t.Errorf("MarkAndSweep deletes %v; want the manifest %s the alias names among them", got, b.Digest())
	}
	p := plan(t, reg, Options{})
	for _, d := range blobsOf(b) {
		if slices.Contains(items(p, KindBlob), d.String()) {
			t.Errorf("plan sweeps %s, a blob of the manifest the alias names", d)
		}
	}
}
