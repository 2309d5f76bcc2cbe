package index

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/walker"
)

// The scenario: repositories app, lib, mirror and multi as a registry
// would hold them.
//
//   - app: tag latest moved from m1 to m2 (both in its history); m1 is now
//     untagged; sig is an untagged signature whose subject is m2; tag ghost
//     names a digest that is no revision.
//   - lib: tag 1.0 on m3, which shares layer l1 with m2; revision m9 whose
//     manifest blob is missing.
//   - mirror: m3 again, untagged, so GC keeps it through lib's tag.
//   - multi: tag v1 on a multi-arch index with children ca (amd64) and cb
//     (arm64), both revisions, and cc (ppc64le), which is not; an untagged
//     index of indexes, all, whose child is that index.
//   - orphan: only a layer link, and no Repository record before it.
//   - u: a blob nothing uses.
var (
	l1, l2, l3       = dg("layer shared"), dg("layer app"), dg("layer lib")
	ca1, cl1, ce     = dg("config app"), dg("config lib"), dg("config empty")
	ls               = dg("layer signature")
	m1, m2, m3, m9   = dg("manifest app old"), dg("manifest app new"), dg("manifest lib"), dg("manifest missing")
	sig              = dg("signature")
	idx, all         = dg("index"), dg("index of indexes")
	ca, cb, cc       = dg("child amd64"), dg("child arm64"), dg("child ppc64le")
	cxa, lxa         = dg("config amd64"), dg("layer amd64")
	cxb, lxb         = dg("config arm64"), dg("layer arm64")
	ghost, unused    = dg("ghost"), dg("unused")
	t1000, t2000     = time.Unix(1000, 0), time.Unix(2000, 0)
	ociImage, ociIdx = "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json"
)

func dg(s string) digest.Digest { return digest.FromString(s) }

func image(d digest.Digest, size int64, config digest.Digest, configSize int64, layers map[digest.Digest]int64, order ...digest.Digest) walker.Manifest {
	type desc struct {
		MediaType string        `json:"mediaType"`
		Digest    digest.Digest `json:"digest"`
		Size      int64         `json:"size"`
	}
	body := struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Config        desc              `json:"config"`
		Layers        []desc            `json:"layers"`
		Annotations   map[string]string `json:"annotations"`
	}{
		SchemaVersion: 2, MediaType: ociImage,
		Config:      desc{MediaType: "application/vnd.oci.image.config.v1+json", Digest: config, Size: configSize},
		Annotations: map[string]string{"org.opencontainers.image.source": "https://example.com/" + d.Encoded()[:6]},
	}
	m := walker.Manifest{
		Digest: d, MediaType: ociImage, SchemaVersion: 2, Kind: walker.KindImage, Size: size, Config: config,
		References: []walker.Reference{{Kind: walker.RefConfig, Digest: config, Size: configSize, MediaType: body.Config.MediaType}},
		Image: &walker.ImageConfig{OS: "linux", Architecture: "amd64", Created: t1000,
			Labels: map[string]string{"org.opencontainers.image.version": "1.0"}},
	}
	for i, l := range order {
		const layerType = "application/vnd.oci.image.layer.v1.tar+gzip"
		m.References = append(m.References, walker.Reference{Kind: walker.RefLayer, Position: i, Digest: l, Size: layers[l], MediaType: layerType})
		body.Layers = append(body.Layers, desc{MediaType: layerType, Digest: l, Size: layers[l]})
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err) // a test fixture of fixed types
	}
	m.Body = b
	return m
}

func index(d digest.Digest, size int64, children ...walker.Reference) walker.Manifest {
	for i := range children {
		children[i].Kind, children[i].Position = walker.RefChild, i
	}
	return walker.Manifest{
		Digest: d, MediaType: ociIdx, SchemaVersion: 2, Kind: walker.KindIndex, Size: size,
		Body: []byte(`{"schemaVersion":2,"mediaType":"` + ociIdx + `","manifests":[]}`), References: children,
	}
}

func scenario() []any {
	sizes := map[digest.Digest]int64{
		l1: 1000, l2: 2000, l3: 3000, ca1: 100, cl1: 110, ce: 2, ls: 700,
		m1: 500, m2: 510, m3: 520, sig: 320, idx: 300, all: 200, ca: 400, cb: 410,
		cxa: 50, lxa: 5000, cxb: 60, lxb: 6000, unused: 9999,
	}
	var recs []any
	for _, d := range []digest.Digest{l1, l2, l3, ca1, cl1, ce, ls, m1, m2, m3, sig, idx, all, ca, cb, cxa, lxa, cxb, lxb, unused} {
		recs = append(recs, walker.Blob{Digest: d, Size: sizes[d], ModifiedAt: t1000})
	}
	for _, name := range []string{"app", "lib", "mirror", "multi"} {
		recs = append(recs, walker.Repository{Name: name, Listed: true, HasLayers: true})
	}
	signature := image(sig, 320, ce, 2, sizes, ls)
	signature.ArtifactType, signature.Subject, signature.Image = "application/vnd.dev.cosign.artifact.sig.v1+json", m2, nil
	signature.References = append(signature.References, walker.Reference{Kind: walker.RefSubject, Digest: m2, Size: 510, MediaType: ociImage})
	childA, childB := image(ca, 400, cxa, 50, sizes, lxa), image(cb, 410, cxb, 60, sizes, lxb)
	childB.Image.Architecture = "arm64"
	recs = append(recs,
		// app
		walker.Revision{Repo: "app", Digest: m1, Target: m1, LinkedAt: t1000},
		walker.Revision{Repo: "app", Digest: m2, Target: m2, LinkedAt: t2000},
		walker.Revision{Repo: "app", Digest: sig, Target: sig, LinkedAt: t2000},
		image(m1, 500, ca1, 100, sizes, l2),
		image(m2, 510, ca1, 100, sizes, l1, l2, l1), // l1 twice counts once
		signature,
		walker.Tag{Repo: "app", Name: "latest", Digest: m2, PushedAt: t2000},
		walker.TagHistory{Repo: "app", Tag: "latest", Digest: m1, LinkedAt: t1000},
		walker.TagHistory{Repo: "app", Tag: "latest", Digest: m2, LinkedAt: t2000},
		walker.Tag{Repo: "app", Name: "ghost", Digest: ghost, PushedAt: t2000},
		walker.LayerLink{Repo: "app", Digest: l1, LinkedAt: t1000},
		walker.LayerLink{Repo: "app", Digest: l2, LinkedAt: t1000},
		walker.LayerLink{Repo: "app", Digest: ca1, LinkedAt: t1000},
		// lib
		walker.Revision{Repo: "lib", Digest: m3, Target: m3, LinkedAt: t1000},
		walker.Revision{Repo: "lib", Digest: m9, Target: m9, LinkedAt: t1000},
		walker.Problem{Kind: walker.ProblemMissingBlob, Path: "repositories/lib/_manifests/revisions/sha256/" + m9.Encoded() + "/link", Repo: "lib", Digest: m9, Message: "manifest blob missing"},
		image(m3, 520, cl1, 110, sizes, l1, l3),
		walker.Tag{Repo: "lib", Name: "1.0", Digest: m3, PushedAt: t1000},
		walker.LayerLink{Repo: "lib", Digest: l1, LinkedAt: t1000},
		walker.LayerLink{Repo: "lib", Digest: l3, LinkedAt: t1000},
		walker.LayerLink{Repo: "lib", Digest: l3, LinkedAt: t2000}, // an alias link: same digest again
		// mirror
		walker.Revision{Repo: "mirror", Digest: m3, Target: m3, LinkedAt: t2000},
		// multi
		walker.Revision{Repo: "multi", Digest: idx, Target: idx, LinkedAt: t1000},
		walker.Revision{Repo: "multi", Digest: ca, Target: ca, LinkedAt: t1000},
		walker.Revision{Repo: "multi", Digest: cb, Target: cb, LinkedAt: t1000},
		walker.Revision{Repo: "multi", Digest: all, Target: all, LinkedAt: t1000},
		index(idx, 300,
			walker.Reference{Digest: ca, Size: 400, Platform: &walker.Platform{OS: "linux", Architecture: "amd64"}},
			walker.Reference{Digest: cb, Size: 410, Platform: &walker.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
			walker.Reference{Digest: cc, Size: 420, Platform: &walker.Platform{OS: "linux", Architecture: "ppc64le"}}),
		childA, childB,
		index(all, 200, walker.Reference{Digest: idx, Size: 300}),
		walker.Tag{Repo: "multi", Name: "v1", Digest: idx, PushedAt: t1000},
		// orphan: named before any Repository record
		walker.LayerLink{Repo: "orphan", Digest: l3, LinkedAt: t1000},
		walker.Upload{Repo: "orphan", UUID: "5f0c", Size: 42},
	)
	return recs
}

func TestScenarioCounts(t *testing.T) {
	path, sum := buildFrom(t, scenario()...)
	want := Summary{Repos: 5, Tags: 4, Revisions: 10, Manifests: 8, Blobs: 20, BlobBytes: 31181, LayerLinks: 6, Uploads: 1, Problems: 2, ReposRead: 5}
	sum.Duration = 0
	if sum != want {
		t.Errorf("build() summary = %+v, want %+v", sum, want)
	}
	db := openTest(t, path)
	checkRows(t, db, `SELECT name, listed, has_layers FROM repos ORDER BY id`, [][]any{
		{"app", int64(1), int64(1)}, {"lib", int64(1), int64(1)}, {"mirror", int64(1), int64(1)},
		{"multi", int64(1), int64(1)}, {"orphan", int64(0), int64(0)},
	})
	checkRows(t, db, `SELECT kind, path FROM problems ORDER BY kind`, [][]any{
		{"missing_blob", "repositories/lib/_manifests/revisions/sha256/" + m9.Encoded() + "/link"},
		{"tag_without_revision", "repositories/app/_manifests/tags/ghost/current/link"},
	})
	// The tag without revision and the revision without manifest stay.
	checkRows(t, db, `SELECT count(*) FROM tags WHERE digest = '`+string(ghost)+`'`, [][]any{{int64(1)}})
	checkRows(t, db, `SELECT count(*) FROM revisions WHERE digest = '`+string(m9)+`'`, [][]any{{int64(1)}})
	checkRows(t, db, `SELECT digest, linked_at FROM tag_history ORDER BY linked_at`, [][]any{
		{string(m1), int64(1000)}, {string(m2), int64(2000)},
	})
	// The alias layer link kept the first row.
	checkRows(t, db, `SELECT linked_at FROM layer_links l JOIN repos r ON r.id = l.repo_id WHERE r.name = 'lib' AND l.digest = '`+string(l3)+`'`,
		[][]any{{int64(1000)}})
	checkRows(t, db, `SELECT root, driver, repos, tags, manifests, blobs, blob_bytes, problems, version FROM scans`, [][]any{
		{"/srv/registry", "filesystem", int64(5), int64(4), int64(8), int64(20), int64(31181), int64(2), "test"},
	})
	checkRows(t, db, `SELECT os, arch, created, json_extract(labels, '$."org.opencontainers.image.version"'), json_extract(body, '$.annotations."org.opencontainers.image.source"') FROM manifests WHERE digest = '`+string(m3)+`'`,
		[][]any{{"linux", "amd64", int64(1000), "1.0", "https://example.com/" + m3.Encoded()[:6]}})
	checkRows(t, db, `SELECT position, platform_arch, platform_variant FROM refs WHERE manifest_digest = '`+string(idx)+`' ORDER BY position`, [][]any{
		{int64(0), "amd64", nil}, {int64(1), "arm64", "v8"}, {int64(2), "ppc64le", nil},
	})
	checkRows(t, db, `SELECT subject_digest, artifact_type, os FROM manifests WHERE digest = '`+string(sig)+`'`,
		[][]any{{string(m2), "application/vnd.dev.cosign.artifact.sig.v1+json", nil}})

	info, err := db.Scan(t.Context())
	if err != nil {
		t.Fatalf("Scan() error = %v", err)
	}
	if info.Root != "/srv/registry" || info.Repos != 5 || info.BlobBytes != 31181 || info.StartedAt.IsZero() {
		t.Errorf("Scan() = %+v, want root /srv/registry, 5 repos, 31181 blob bytes and a start time", info)
	}
}

func TestScenarioTotalSizes(t *testing.T) {
	path, _ := buildFrom(t, scenario()...)
	db := openTest(t, path)
	tests := []struct {
		name   string
		digest digest.Digest
		want   int64
	}{
		{name: "image: body, config and layers", digest: m1, want: 500 + 100 + 2000},
		{name: "image with a layer listed twice", digest: m2, want: 510 + 100 + 1000 + 2000},
		{name: "artifact: subject not counted", digest: sig, want: 320 + 2 + 700},
		{name: "index: children that are indexed", digest: idx, want: 300 + (400 + 50 + 5000) + (410 + 60 + 6000)},
		{name: "index of indexes", digest: all, want: 200 + 300 + (400 + 50 + 5000) + (410 + 60 + 6000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := queryRows(t, db, `SELECT total_size FROM manifests WHERE digest = :d`, map[string]string{"d": string(tt.digest)})
			if len(got) != 1 || got[0][0] != tt.want {
				t.Errorf("total_size of %s = %v, want %d", tt.name, got, tt.want)
			}
		})
	}
}

func TestScenarioViews(t *testing.T) {
	path, _ := buildFrom(t, scenario()...)
	db := openTest(t, path)
	const name = `(SELECT name FROM repos WHERE id = repo_id)`

	t.Run("tagged_manifests", func(t *testing.T) {
		checkRows(t, db, `SELECT `+name+`, digest, via_tag, tag_count, direct FROM tagged_manifests ORDER BY 1, 2`, sortedByDigest([][]any{
			{"app", string(m2), "latest", int64(1), int64(1)},
			{"lib", string(m3), "1.0", int64(1), int64(1)},
			{"multi", string(idx), "v1", int64(1), int64(1)},
			{"multi", string(ca), "v1", int64(1), int64(0)},
			{"multi", string(cb), "v1", int64(1), int64(0)},
		}))
	})
	t.Run("untagged_revisions", func(t *testing.T) {
		checkRows(t, db, `SELECT `+name+`, digest, gc_marked FROM untagged_revisions ORDER BY 1, 2`, sortedByDigest([][]any{
			{"app", string(m1), int64(0)},
			{"app", string(sig), int64(0)},
			{"lib", string(m9), int64(0)},
			{"mirror", string(m3), int64(1)}, // tagged in lib
			{"multi", string(all), int64(0)},
		}))
	})
	t.Run("repo_usage", func(t *testing.T) {
		checkRows(t, db, `SELECT name, tags, revisions, blobs, total_bytes, unique_bytes, shared_bytes FROM repo_usage ORDER BY name`, [][]any{
			{"app", int64(2), int64(3), int64(8), int64(5132), int64(4132), int64(1000)},
			{"lib", int64(1), int64(2), int64(4), int64(4630), int64(0), int64(4630)},
			{"mirror", int64(0), int64(1), int64(4), int64(4630), int64(0), int64(4630)},
			{"multi", int64(1), int64(4), int64(8), int64(12420), int64(12420), int64(0)},
			{"orphan", int64(0), int64(0), int64(0), int64(0), int64(0), int64(0)},
		})
	})
	t.Run("repo_blobs of missing blobs", func(t *testing.T) {
		checkRows(t, db, `SELECT `+name+`, digest, size FROM repo_blobs WHERE size IS NULL ORDER BY 1`, [][]any{
			{"lib", string(m9), nil},
			{"multi", string(cc), nil},
		})
	})
	t.Run("blob_usage", func(t *testing.T) {
		got := queryRows(t, db, `SELECT digest, is_manifest, manifests, repos, layer_links FROM blob_usage WHERE digest IN (:l1, :m3, :u, :l3) ORDER BY size`,
			map[string]string{"l1": string(l1), "m3": string(m3), "u": string(unused), "l3": string(l3)})
		want := [][]any{
			{string(m3), int64(1), int64(0), int64(2), int64(0)},
			{string(l1), int64(0), int64(2), int64(3), int64(2)},
			{string(l3), int64(0), int64(1), int64(2), int64(2)},
			{string(unused), int64(0), int64(0), int64(0), int64(0)},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("blob_usage\n got %v\nwant %v", got, want)
		}
	})
}

// sortedByDigest orders rows by their first two columns, as
// "ORDER BY 1, 2" does, since digests make the expected order unreadable.
func sortedByDigest(rows [][]any) [][]any {
	slices.SortFunc(rows, func(a, b []any) int {
		if c := compareText(a[0], b[0]); c != 0 {
			return c
		}
		return compareText(a[1], b[1])
	})
	return rows
}

func compareText(a, b any) int {
	x, y := fmt.Sprint(a), fmt.Sprint(b)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
