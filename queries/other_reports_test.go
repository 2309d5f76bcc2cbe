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

// blobDir is the directory of blob d in the registry's storage.
func blobDir(reg *registrytest.Registry, d digest.Digest) string {
	return storagePath(reg, "blobs", d.Algorithm().String(), d.Encoded()[:2], d.Encoded())
}

func removeAll(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}

// render lists rows as "col=value" strings over cols, sorted.
func render(rows []row, cols ...string) []string {
	var out []string
	for _, r := range rows {
		var parts []string
		for _, c := range cols {
			parts = append(parts, c+"="+str(r[c]))
		}
		out = append(out, strings.Join(parts, " "))
	}
	slices.Sort(out)
	return out
}

func TestLargeRarelySharedLayers(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	base := registrytest.Layer(400, 8000)
	big := registrytest.Layer(401, 3000)
	small := registrytest.Layer(402, 1000)
	// Every image also has a layer of its own, below min_size (a tar of 100
	// bytes is 2076 with its headers).
	withLayers := func(seed int64, layers ...[]byte) *registrytest.Manifest {
		return registrytest.Image(registrytest.ImageOptions{Seed: seed, Base: layers, Layers: 1, LayerSize: 100})
	}
	s.Push("l/a", "1", withLayers(1, base, big))
	s.Push("l/a", "2", withLayers(2, base))
	s.Push("l/b", "1", withLayers(3, base, small))
	s.Push("l/b", "2", withLayers(4, base))
	db := buildIndex(t, reg.Root(), "filesystem")

	rows := runReport(t, db, "large-rarely-shared-layers", map[string]string{"min_size": "2100B"})
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s manifests=%v repos=%v freed=%v", r["digest"], r["manifests"], r["repos"], r["freed_per_manifest"]))
	}
	want := []string{
		fmt.Sprintf("%s manifests=1 repos=1 freed=%d", digest.FromBytes(big), len(big)),
		fmt.Sprintf("%s manifests=1 repos=1 freed=%d", digest.FromBytes(small), len(small)),
		fmt.Sprintf("%s manifests=4 repos=2 freed=%d", digest.FromBytes(base), len(base)/4),
	}
	if !slices.Equal(got, want) {
		t.Errorf("large-rarely-shared-layers =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := runReport(t, db, "large-rarely-shared-layers", map[string]string{"limit": "1"}); len(got) != 1 || got[0]["digest"] != digest.FromBytes(big).String() {
		t.Errorf("large-rarely-shared-layers with limit 1 = %v, want the big layer alone", got)
	}
}

func TestRepoUsage(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	base := registrytest.Layer(500, 5000)
	a1 := registrytest.Image(registrytest.ImageOptions{Seed: 501, Base: [][]byte{base}, Layers: 1})
	a2 := registrytest.Image(registrytest.ImageOptions{Seed: 502, Base: [][]byte{base}, Layers: 1})
	b1 := registrytest.Image(registrytest.ImageOptions{Seed: 503, Base: [][]byte{base}, Layers: 1})
	s.Push("r/a", "1", a1)
	s.Push("r/a", "", a2)
	s.Push("r/b", "1", b1)
	s.PushBlob("r/layers-only", registrytest.Layer(504, 100))
	db := buildIndex(t, reg.Root(), "filesystem")

	shared := int64(len(base))
	aTotal := bytesOf(a1) + bytesOf(a2, base)
	want := []string{
		fmt.Sprintf("repo=r/a listed=1 tags=1 manifests=2 untagged=1 total_bytes=%d unique_bytes=%d shared_bytes=%d", aTotal, aTotal-shared, shared),
		fmt.Sprintf("repo=r/b listed=1 tags=1 manifests=1 untagged=0 total_bytes=%d unique_bytes=%d shared_bytes=%d", bytesOf(b1), bytesOf(b1)-shared, shared),
		"repo=r/layers-only listed=0 tags=0 manifests=0 untagged=0 total_bytes=0 unique_bytes=0 shared_bytes=0",
	}
	got := render(runReport(t, db, "repo-usage", nil), "repo", "listed", "tags", "manifests", "untagged", "total_bytes", "unique_bytes", "shared_bytes")
	if !slices.Equal(got, want) {
		t.Errorf("repo-usage =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDanglingLinks(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	s.Push("d", "ok", image(600))
	broken := s.Push("d", "broken", image(601))
	orphan := s.PushBlob("lo", registrytest.Layer(602, 100))
	// The registry's own GC deletes a blob that only a directory without
	// _manifests links, and leaves the link.
	if err := runGC(t, reg, false); err != nil {
		t.Fatal(err)
	}
	// A manifest blob lost by hand.
	removeAll(t, blobDir(reg, broken))
	db := buildIndex(t, reg.Root(), "filesystem")

	got := render(runReport(t, db, "dangling-links", nil), "link", "repo", "tag", "digest")
	want := []string{
		"link=layer_link repo=lo tag= digest=" + orphan.String(),
		"link=revision repo=d tag= digest=" + broken.String(),
		"link=tag repo=d tag=broken digest=" + broken.String(),
		"link=tag_history repo=d tag=broken digest=" + broken.String(),
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("dangling-links =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestTagRevisionMismatch(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	a1 := s.Push("m", "a", image(700))
	s.Push("m", "a", image(701))
	s.DeleteManifest("m", a1) // a's history still names a1
	b := s.Push("m", "b", image(702))
	removeAll(t, storagePath(reg, "repositories", "m", "_manifests", "revisions", "sha256", b.Encoded()))
	c := s.Push("m", "c", image(703))
	removeAll(t, storagePath(reg, "repositories", "m", "_manifests", "tags", "c", "index"))
	db := buildIndex(t, reg.Root(), "filesystem")

	got := render(runReport(t, db, "tag-revision-mismatch", nil), "mismatch", "repo", "tag", "digest")
	want := []string{
		"mismatch=history_without_revision repo=m tag=a digest=" + a1.String(),
		"mismatch=history_without_revision repo=m tag=b digest=" + b.String(),
		"mismatch=tag_without_history repo=m tag=c digest=" + c.String(),
		"mismatch=tag_without_revision repo=m tag=b digest=" + b.String(),
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("tag-revision-mismatch =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestStaleUploads(t *testing.T) {
	reg := registrytest.Start(t)
	fresh, err := reg.StartUpload("up", []byte("partial"))
	if err != nil {
		t.Fatal(err)
	}
	garbled, err := reg.StartUpload("up", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(storagePath(reg, "repositories", "up", "_uploads", garbled, "startedat"), []byte("yesterday"), 0o644); err != nil {
		t.Fatal(err)
	}
	db := buildIndex(t, reg.Root(), "filesystem")
	now := fmt.Sprint(time.Now().Unix())
	later := fmt.Sprint(time.Now().Add(8 * 24 * time.Hour).Unix())
	tests := []struct {
		name   string
		params map[string]string
		want   []string
	}{
		{name: "just started", params: map[string]string{"now": now}, want: []string{garbled}},
		{name: "eight days on", params: map[string]string{"now": later}, want: []string{fresh, garbled}},
		{name: "eight days on, a month allowed", params: map[string]string{"now": later, "older_than": "30d"}, want: []string{garbled}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := runReport(t, db, "stale-uploads", tt.params)
			got := column(rows, "uuid")
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("stale-uploads = %v, want %v", got, want)
			}
			for _, r := range rows {
				if r["uuid"] == garbled && !strings.Contains(str(r["note"]), "never purges") {
					t.Errorf("note for an upload without startedat = %q", r["note"])
				}
			}
		})
	}
}

func TestReferrers(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	subject := image(800)
	sd := s.Push("r", "v1", subject)
	s.Push("r", "latest", subject)
	sig := s.Push("r", "v1-sig", registrytest.Artifact(subject, signature))
	bom := s.Push("r", "", registrytest.Artifact(subject, sbom))
	child := image(801)
	s.Push("r", "multi", registrytest.Index(child, arm(802)))
	att := s.Push("r", "", registrytest.Artifact(child, "application/vnd.in-toto+json"))
	stray := s.Push("r", "", registrytest.Artifact(image(803), signature)) // its subject was never pushed here
	db := buildIndex(t, reg.Root(), "filesystem")

	got := render(runReport(t, db, "referrers", nil), "digest", "artifact_type", "subject", "tags", "subject_tags", "subject_kept", "subject_present")
	want := []string{
		fmt.Sprintf("digest=%s artifact_type=%s subject=%s tags=v1-sig subject_tags=latest v1 subject_kept=1 subject_present=1", sig, signature, sd),
		fmt.Sprintf("digest=%s artifact_type=%s subject=%s tags= subject_tags=latest v1 subject_kept=1 subject_present=1", bom, sbom, sd),
		fmt.Sprintf("digest=%s artifact_type=application/vnd.in-toto+json subject=%s tags= subject_tags= subject_kept=1 subject_present=1", att, child.Digest()),
		fmt.Sprintf("digest=%s artifact_type=%s subject=%s tags= subject_tags= subject_kept=0 subject_present=0", stray, signature, image(803).Digest()),
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("referrers =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestProblemsReport(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	d := s.Push("p", "v1", image(900))
	s.PushBlob("lo", registrytest.Layer(901, 100))
	if err := os.WriteFile(storagePath(reg, "repositories", "p", "_manifests", "tags", "v1", "current", "link"), []byte(d.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db := buildIndex(t, reg.Root(), "filesystem")

	all := runReport(t, db, "problems", nil)
	kinds := column(all, "kind")
	for _, want := range []string{"bad_link", "layers_only_repo"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("problems kinds = %v, want %s among them", kinds, want)
		}
	}
	for _, r := range all {
		if str(r["meaning"]) == "" {
			t.Errorf("problem %v has no meaning", r)
		}
	}
	if got := column(runReport(t, db, "problems", map[string]string{"kind": "^bad_link$"}), "kind"); !slices.Equal(got, []string{"bad_link"}) {
		t.Errorf("problems kind=^bad_link$ = %v", got)
	}
}
