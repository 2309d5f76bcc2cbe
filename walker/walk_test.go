package walker_test

import (
	"cmp"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/regsql/regsql/walker"
)

// openFixture opens walker/testdata/<name> as a registry rootdirectory.
func openFixture(t *testing.T, name string) *walker.DirStorage {
	t.Helper()
	st, err := walker.OpenRoot(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("OpenRoot(%q) error = %v", name, err)
	}
	return st
}

// countFiles counts the files of a recipe's tree whose path matches.
func countFiles(tree storageTree, match func(p string) bool) int {
	n := 0
	for p := range tree {
		if match(p) {
			n++
		}
	}
	return n
}

func isBlob(p string) bool { return strings.HasPrefix(p, "blobs/") && strings.HasSuffix(p, "/data") }

func isLayerLink(p string) bool {
	return strings.Contains(p, "/_layers/") && strings.HasSuffix(p, "/link")
}

func manifestByDigest(t *testing.T, rec *recorder, d digest.Digest) walker.Manifest {
	t.Helper()
	for _, m := range rec.manifests {
		if m.Digest == d {
			return m
		}
	}
	t.Fatalf("no manifest %s among %d", d, len(rec.manifests))
	return walker.Manifest{}
}

func TestWalkFixtures(t *testing.T) {
	tests := []struct {
		name string
		want []problemKey
		// verifyOnly: the problems are found only with Options.Verify,
		// and a default walk finds none.
		verifyOnly bool
		check      func(t *testing.T, tree storageTree, rec *recorder)
	}{
		{
			name: "healthy",
			check: func(t *testing.T, tree storageTree, rec *recorder) {
				wantRepos := []walker.Repository{
					{Name: "library/alpine", Listed: true, HasLayers: true},
					{Name: "org/app", Listed: true, HasLayers: true, HasUploads: true},
				}
				if !slices.Equal(rec.repos, wantRepos) {
					t.Errorf("repositories = %+v, want %+v", rec.repos, wantRepos)
				}
				if got, want := len(rec.blobs), countFiles(tree, isBlob); got != want {
					t.Errorf("blobs = %d, want %d", got, want)
				}
				for _, b := range rec.blobs {
					if got, want := b.Size, int64(len(tree[blobPath(b.Digest)])); got != want || b.ModifiedAt.IsZero() {
						t.Errorf("blob %s size = %d, modified %v; want %d and a time", b.Digest, got, b.ModifiedAt, want)
					}
				}
				if got, want := len(rec.layerLinks), countFiles(tree, isLayerLink); got != want {
					t.Errorf("layer links = %d, want %d", got, want)
				}
				if got, want := len(rec.revisions), 6; got != want {
					t.Errorf("revisions = %d, want %d", got, want)
				}
				for _, r := range rec.revisions {
					if r.Target != r.Digest || r.LinkedAt.IsZero() {
						t.Errorf("revision %+v: want Target = Digest and a LinkedAt", r)
					}
				}
				if got, want := len(rec.manifests), 6; got != want {
					t.Fatalf("manifests = %d, want %d", got, want)
				}

				index := digest.Digest(tree[tagCurrentPath("library/alpine", "latest")])
				var tags []string
				for _, tg := range rec.tags {
					tags = append(tags, tg.Repo+":"+tg.Name)
					if tg.PushedAt.IsZero() {
						t.Errorf("tag %s:%s has no PushedAt", tg.Repo, tg.Name)
					}
				}
				if want := []string{"library/alpine:3.19", "library/alpine:latest", "org/app:v1"}; !slices.Equal(tags, want) {
					t.Errorf("tags = %v, want %v", tags, want)
				}
				if got, want := len(rec.history), 4; got != want {
					t.Errorf("tag history = %d, want %d", got, want)
				}

				idx := manifestByDigest(t, rec, index)
				if idx.Kind != walker.KindIndex || idx.MediaType != v1.MediaTypeImageIndex || len(idx.References) != 2 {
					t.Fatalf("index = %s %s with %d references, want an OCI index with 2", idx.Kind, idx.MediaType, len(idx.References))
				}
				arm := idx.References[1]
				if arm.Kind != walker.RefChild || arm.Position != 1 || arm.Platform == nil ||
					*arm.Platform != (walker.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}) {
					t.Errorf("index child 1 = %+v, want a child at 1 for linux/arm64/v8", arm)
				}
				amd := manifestByDigest(t, rec, idx.References[0].Digest)
				if amd.Kind != walker.KindImage || amd.Image == nil {
					t.Fatalf("amd64 image = %s with config %v, want an image with its config read", amd.Kind, amd.Image)
				}
				wantImage := walker.ImageConfig{
					Created:      time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
					OS:           "linux",
					Architecture: "amd64",
					Labels:       map[string]string{"org.opencontainers.image.title": "library/alpine"},
				}
				if got := *amd.Image; !got.Created.Equal(wantImage.Created) || got.OS != wantImage.OS ||
					got.Architecture != wantImage.Architecture || got.Labels["org.opencontainers.image.title"] != "library/alpine" {
					t.Errorf("amd64 image config = %+v, want %+v", got, wantImage)
				}
				if amd.Config == "" || amd.References[0].Kind != walker.RefConfig || amd.References[1].Kind != walker.RefLayer {
					t.Errorf("amd64 references = %+v, want config then layer", amd.References)
				}

				cur := digest.Digest(tree[tagCurrentPath("org/app", "v1")])
				docker := manifestByDigest(t, rec, cur)
				if docker.MediaType != "application/vnd.docker.distribution.manifest.v2+json" || docker.Image == nil || len(docker.References) != 3 {
					t.Errorf("org/app:v1 = %s, image %v, %d references; want a Docker image with config and 2 layers", docker.MediaType, docker.Image, len(docker.References))
				}
				var sig walker.Manifest
				for _, m := range rec.manifests {
					if m.Subject != "" {
						sig = m
					}
				}
				if sig.Subject != cur || sig.ArtifactType != "application/vnd.dev.cosign.artifact.sig.v1+json" || sig.Image != nil {
					t.Errorf("signature = subject %s, artifactType %q, image %v; want subject %s, the cosign type, no image", sig.Subject, sig.ArtifactType, sig.Image, cur)
				}
				if last := sig.References[len(sig.References)-1]; last.Kind != walker.RefSubject || last.Digest != cur {
					t.Errorf("signature's last reference = %+v, want the subject", last)
				}

				wantUpload := walker.Upload{Repo: "org/app", UUID: fixtureUploadUUID, StartedAt: time.Date(2024, 5, 2, 8, 30, 0, 0, time.UTC), Size: 14}
				if len(rec.uploads) != 1 || rec.uploads[0] != wantUpload {
					t.Errorf("uploads = %+v, want [%+v]", rec.uploads, wantUpload)
				}
			},
		},
		{
			name: "dangling-tag-link",
			want: []problemKey{
				{walker.ProblemDanglingLink, tagCurrentPath("app", "v2")},
				{walker.ProblemTagWithoutTarget, tagCurrentPath("app", "v2")},
			},
			check: func(t *testing.T, tree storageTree, rec *recorder) {
				// The dangling tag is still indexed, so users can find it.
				if len(rec.tags) != 2 || rec.tags[1].Name != "v2" || string(rec.tags[1].Digest) != string(tree[tagCurrentPath("app", "v2")]) {
					t.Errorf("tags = %+v, want v1 and the dangling v2", rec.tags)
				}
			},
		},
		{
			name: "link-trailing-newline",
			want: []problemKey{{walker.ProblemBadLink, tagCurrentPath("app", "v1")}},
			check: func(t *testing.T, tree storageTree, rec *recorder) {
				if len(rec.tags) != 0 {
					t.Errorf("tags = %+v, want none: the registry cannot read the link", rec.tags)
				}
				if len(rec.history) != 1 || len(rec.revisions) != 1 || len(rec.manifests) != 1 {
					t.Errorf("history, revisions, manifests = %d, %d, %d, want 1 each", len(rec.history), len(rec.revisions), len(rec.manifests))
				}
			},
		},
		{
			name: "revision-missing-blob",
			want: []problemKey{{walker.ProblemMissingBlob, revisionPath("app", digest.FromString("a manifest whose blob is gone"))}},
			check: func(t *testing.T, tree storageTree, rec *recorder) {
				if len(rec.revisions) != 1 || len(rec.manifests) != 0 {
					t.Errorf("revisions, manifests = %d, %d, want the revision and no manifest", len(rec.revisions), len(rec.manifests))
				}
			},
		},
		{
			name: "truncated-manifest",
			want: []problemKey{{walker.ProblemManifestInvalid, "<manifest>"}},
			check: func(t *testing.T, tree storageTree, rec *recorder) {
				if len(rec.manifests) != 1 || rec.manifests[0].Kind != walker.KindInvalid || rec.manifests[0].Body != nil {
					t.Errorf("manifests = %+v, want one invalid with no body", rec.manifests)
				}
			},
		},
		{
			name: "schema1-manifest",
			want: []problemKey{{walker.ProblemManifestSchema1, "<manifest>"}},
			check: func(t *testing.T, tree storageTree, rec *recorder) {
				m := rec.manifests[0]
				if m.Kind != walker.KindSchema1 || m.SchemaVersion != 1 || len(m.References) != 1 || m.References[0].Kind != walker.RefLayer {
					t.Errorf("manifest = %s v%d with %+v, want schema1 with its layer", m.Kind, m.SchemaVersion, m.References)
				}
				if len(rec.tags) != 1 {
					t.Errorf("tags = %+v, want the tag on it", rec.tags)
				}
			},
		},
		{
			name: "unknown-media-type",
			want: []problemKey{{walker.ProblemManifestUnknown, "<manifest>"}},
			check: func(t *testing.T, tree storageTree, rec *recorder) {
				m := rec.manifests[0]
				if m.Kind != walker.KindUnknown || m.MediaType != "application/vnd.oci.artifact.manifest.v1+json" || len(m.References) != 1 {
					t.Errorf("manifest = %s %s with %d references, want unknown with its blob", m.Kind, m.MediaType, len(m.References))
				}
			},
		},
		{
			name: "layers-only-repo",
			want: []problemKey{{walker.ProblemLayersOnlyRepo, "repositories/ghost"}},
			check: func(t *testing.T, tree storageTree, rec *recorder) {
				want := []walker.Repository{{Name: "ghost", Listed: false, HasLayers: true}}
				if !slices.Equal(rec.repos, want) {
					t.Errorf("repositories = %+v, want %+v", rec.repos, want)
				}
				if len(rec.layerLinks) != 1 {
					t.Errorf("layer links = %+v, want its one link", rec.layerLinks)
				}
			},
		},
		{
			name:       "stray-tmp-file",
			want:       []problemKey{{walker.ProblemStrayFile, "<stray>"}, {walker.ProblemStrayFile, "repositories/app/_manifests/tags/v1/current." + fixtureTmpUUID + ".tmp"}},
			verifyOnly: true,
			check: func(t *testing.T, tree storageTree, rec *recorder) {
				if len(rec.revisions) != 1 || len(rec.manifests) != 1 {
					t.Errorf("revisions, manifests = %d, %d, want 1 each", len(rec.revisions), len(rec.manifests))
				}
				if len(rec.tags) != 1 || len(rec.history) != 1 {
					t.Errorf("tags, tag history = %d, %d, want 1 each", len(rec.tags), len(rec.history))
				}
			},
		},
		{
			name: "nested-repos",
			check: func(t *testing.T, tree storageTree, rec *recorder) {
				var names []string
				for _, r := range rec.repos {
					names = append(names, r.Name)
				}
				if want := []string{"org/app", "org/app/sub"}; !slices.Equal(names, want) {
					t.Errorf("repositories = %v, want %v", names, want)
				}
				if len(rec.tags) != 2 {
					t.Errorf("tags = %+v, want one in each", rec.tags)
				}
			},
		},
		{
			name: "alias-revision",
			want: []problemKey{{walker.ProblemRevisionAlias, "<revision>"}},
			check: func(t *testing.T, tree storageTree, rec *recorder) {
				if len(rec.revisions) != 1 {
					t.Fatalf("revisions = %+v, want 1", rec.revisions)
				}
				r := rec.revisions[0]
				if r.Digest.Algorithm() != digest.SHA512 || r.Target.Algorithm() != digest.SHA256 {
					t.Errorf("revision = %+v, want a sha512 digest targeting sha256", r)
				}
				if len(rec.manifests) != 1 || rec.manifests[0].Digest != r.Target {
					t.Errorf("manifests = %+v, want the target read once", rec.manifests)
				}
			},
		},
		{
			name: "invalid-repo-name",
			want: []problemKey{{walker.ProblemInvalidRepoName, "repositories/Org/App"}},
			check: func(t *testing.T, tree storageTree, rec *recorder) {
				if len(rec.repos) != 1 || rec.repos[0].Name != "Org/App" || !rec.repos[0].Listed {
					t.Errorf("repositories = %+v, want Org/App indexed anyway", rec.repos)
				}
			},
		},
		{
			name: "bad-upload",
			want: []problemKey{
				{walker.ProblemBadUpload, "repositories/app/_uploads/aaaaaaaa-0000-0000-0000-000000000001/startedat"},
				{walker.ProblemBadUpload, "repositories/app/_uploads/aaaaaaaa-0000-0000-0000-000000000002/startedat"},
			},
			check: func(t *testing.T, tree storageTree, rec *recorder) {
				want := []walker.Upload{
					{Repo: "app", UUID: "aaaaaaaa-0000-0000-0000-000000000001", Size: 3},
					{Repo: "app", UUID: "aaaaaaaa-0000-0000-0000-000000000002", Size: 5},
				}
				if !slices.Equal(rec.uploads, want) {
					t.Errorf("uploads = %+v, want %+v", rec.uploads, want)
				}
			},
		},
		{
			name: "missing-link",
			want: []problemKey{
				{walker.ProblemMissingLink, tagCurrentPath("app", "v1")},
				{walker.ProblemStrayFile, tagCurrentPath("app", "v1") + "." + fixtureTmpUUID + ".tmp"},
			},
		},
		{
			name: "config-invalid",
			want: []problemKey{{walker.ProblemConfigInvalid, "<config>"}, {walker.ProblemConfigInvalid, "<config>"}},
			check: func(t *testing.T, tree storageTree, rec *recorder) {
				for _, m := range rec.manifests {
					if m.Kind != walker.KindImage || m.Image != nil {
						t.Errorf("manifest %s = %s with image %v, want an image without config", m.Digest, m.Kind, m.Image)
					}
				}
			},
		},
		{
			name: "bad-blob-path",
			want: []problemKey{
				{walker.ProblemBadBlobPath, "blobs/md5"},
				{walker.ProblemBadBlobPath, "<NOTHEX>"},
				{walker.ProblemBadBlobPath, "blobs/sha256/zz"},
			},
			check: func(t *testing.T, tree storageTree, rec *recorder) {
				if len(rec.blobs) != 1 || rec.blobs[0].Digest != digest.FromString("a good blob") {
					t.Errorf("blobs = %+v, want only the good one", rec.blobs)
				}
			},
		},
		{
			name: "index-without-media-type",
			check: func(t *testing.T, tree storageTree, rec *recorder) {
				var kinds []string
				for _, m := range rec.manifests {
					kinds = append(kinds, string(m.Kind)+" "+m.MediaType)
				}
				slices.Sort(kinds)
				want := []string{"image " + v1.MediaTypeImageManifest, "index " + v1.MediaTypeImageIndex}
				if !slices.Equal(kinds, want) {
					t.Errorf("manifests = %v, want %v (inferred as the registry does)", kinds, want)
				}
			},
		},
	}
	for _, tt := range tests {
		for _, verify := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/verify=%t", tt.name, verify), func(t *testing.T) {
				tree := build(tt.name)
				rec, stats := walkWith(t, openFixture(t, tt.name), walker.Options{Workers: 4, Verify: verify})

				// Placeholders stand for paths that embed digests.
				want := resolvePlaceholders(t, tree, rec, tt.want)
				if tt.verifyOnly && !verify {
					want = nil
				}
				if got := problemKeys(rec.problems); !slices.Equal(got, want) {
					t.Errorf("problems = %+v\nwant %+v\nmessages: %v", got, want, messages(rec.problems))
				}
				for _, p := range rec.problems {
					if p.Message == "" {
						t.Errorf("problem %+v has no message", p)
					}
				}
				checkStats(t, rec, stats)
				if tt.check != nil {
					tt.check(t, tree, rec)
				}
			})
		}
	}
}

// resolvePlaceholders replaces "<manifest>", "<config>", "<revision>",
// "<stray>" and "<NOTHEX>" by the one path of that shape the walk reported.
func resolvePlaceholders(t *testing.T, tree storageTree, rec *recorder, keys []problemKey) []problemKey {
	t.Helper()
	out := make([]problemKey, 0, len(keys))
	for _, k := range keys {
		if strings.HasPrefix(k.Path, "<") {
			for _, p := range rec.problems {
				if p.Kind == k.Kind && placeholderMatches(k.Path, p.Path) && !slices.Contains(out, problemKey{p.Kind, p.Path}) {
					k.Path = p.Path
					break
				}
			}
		}
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b problemKey) int {
		return strings.Compare(a.Path+"\x00"+string(a.Kind), b.Path+"\x00"+string(b.Kind))
	})
	return out
}

func placeholderMatches(placeholder, p string) bool {
	switch placeholder {
	case "<manifest>", "<config>":
		return isBlob(p)
	case "<revision>":
		return strings.Contains(p, "/_manifests/revisions/") && strings.HasSuffix(p, "/link")
	case "<stray>":
		return strings.HasSuffix(p, ".tmp")
	case "<NOTHEX>":
		return strings.HasSuffix(p, "/NOTHEX")
	}
	return false
}

func messages(ps []walker.Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Message)
	}
	return out
}

func checkStats(t *testing.T, rec *recorder, s walker.Stats) {
	t.Helper()
	var bytes int64
	for _, b := range rec.blobs {
		bytes += b.Size
	}
	got := []int{s.Repos, s.Tags, s.Revisions, s.LayerLinks, s.Uploads, s.Blobs, s.Manifests, s.Problems}
	want := []int{len(rec.repos), len(rec.tags), len(rec.revisions), len(rec.layerLinks), len(rec.uploads), len(rec.blobs), len(rec.manifests), len(rec.problems)}
	if !slices.Equal(got, want) || s.BlobBytes != bytes {
		t.Errorf("Stats = %+v, want counts %v and %d blob bytes", s, want, bytes)
	}
}

func TestWalkEmptyRegistry(t *testing.T) {
	tests := []struct {
		name string
		dirs []string
	}{
		{name: "fresh v2", dirs: []string{v2}},
		{name: "empty repositories and blobs", dirs: []string{v2 + "/repositories", v2 + "/blobs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range tt.dirs {
				mkdirAll(t, filepath.Join(root, d))
			}
			st, err := walker.OpenRoot(root)
			if err != nil {
				t.Fatalf("OpenRoot() error = %v", err)
			}
			rec, stats := walk(t, st)
			if stats != (walker.Stats{}) || len(rec.problems) != 0 {
				t.Errorf("Walk() = %+v with problems %v, want nothing", stats, rec.problems)
			}
		})
	}
}

func TestWalkMissingRoot(t *testing.T) {
	st := walker.NewDirStorage(filepath.Join(t.TempDir(), "gone"))
	_, err := walker.Walk(context.Background(), st, newRecorder(), walker.Options{})
	if err == nil {
		t.Fatal("Walk() error = nil, want an error for a missing root")
	}
}

// failingSink fails on the nth record.
type failingSink struct {
	*recorder
	n   int
	err error
}

func (f *failingSink) count() error {
	f.n--
	if f.n <= 0 {
		return f.err
	}
	return nil
}

func (f *failingSink) Blob(b walker.Blob) error { return errors.Join(f.count(), f.recorder.Blob(b)) }
func (f *failingSink) Manifest(m walker.Manifest) error {
	return errors.Join(f.count(), f.recorder.Manifest(m))
}

func TestWalkStopsOnSinkError(t *testing.T) {
	sinkErr := errors.New("disk full")
	tests := []struct {
		name string
		n    int
	}{
		{name: "first blob", n: 1},
		{name: "a manifest", n: 17},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &failingSink{recorder: newRecorder(), n: tt.n, err: sinkErr}
			_, err := walker.Walk(context.Background(), openFixture(t, "healthy"), sink, walker.Options{Workers: 2})
			if !errors.Is(err, sinkErr) {
				t.Fatalf("Walk() error = %v, want %v", err, sinkErr)
			}
		})
	}
}

// cancellingSink cancels the walk's context on its first record.
type cancellingSink struct {
	*recorder
	cancel context.CancelFunc
}

func (c *cancellingSink) Blob(b walker.Blob) error { c.cancel(); return c.recorder.Blob(b) }

func TestWalkStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &cancellingSink{recorder: newRecorder(), cancel: cancel}
	_, err := walker.Walk(ctx, openFixture(t, "healthy"), sink, walker.Options{Workers: 2})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Walk() error = %v, want %v", err, context.Canceled)
	}
}

func TestWalkProgress(t *testing.T) {
	var last walker.Progress
	calls := 0
	stats, err := walker.Walk(context.Background(), openFixture(t, "healthy"), newRecorder(), walker.Options{
		Progress: func(p walker.Progress) { last = p; calls++ },
	})
	if err != nil {
		t.Fatalf("Walk() error = %v", err)
	}
	want := walker.Progress{Repos: stats.Repos, Manifests: stats.Manifests, Blobs: stats.Blobs, Problems: stats.Problems}
	if calls == 0 || last != want {
		t.Errorf("last Progress = %+v after %d calls, want %+v", last, calls, want)
	}
}

// TestWalkReadsEachFileOnce checks that a manifest linked by several
// repositories and a config shared by several manifests are read once.
func TestWalkReadsEachFileOnce(t *testing.T) {
	tree := storageTree{}
	layer := []byte("layer")
	d := tree.image("a", "amd64", layer)
	for _, repo := range []string{"b", "c", "d"} {
		tree.revision(repo, d)
	}
	st := openTree(t, tree)
	counting := &countingStorage{Storage: st, reads: map[string]int{}}
	rec, stats := walk(t, counting)
	if len(rec.manifests) != 1 || len(rec.revisions) != 4 {
		t.Fatalf("manifests, revisions = %d, %d, want 1, 4", len(rec.manifests), len(rec.revisions))
	}
	for p, n := range counting.reads {
		if n != 1 {
			t.Errorf("%s read %d times, want once", p, n)
		}
	}
	if stats.FilesRead != len(counting.reads) {
		t.Errorf("Stats.FilesRead = %d, want %d", stats.FilesRead, len(counting.reads))
	}
}

// BenchmarkWalk walks a registry of 500 repositories, each with two tagged
// images over a shared base layer.
func BenchmarkWalk(b *testing.B) {
	tree := storageTree{}
	base := []byte("shared base layer")
	for i := range 500 {
		repo := fmt.Sprintf("team%d/app%d", i%20, i)
		for j := range 2 {
			d := tree.image(repo, "amd64", append(slices.Clip(base), fmt.Sprintf(" %d/%d", i, j)...))
			tree.tag(repo, fmt.Sprintf("v%d", j), d)
		}
	}
	dir := b.TempDir()
	writeTree(b, filepath.Join(dir, v2), tree)
	st, err := walker.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := walker.Walk(context.Background(), st, discard{}, walker.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWalkTree walks the registry storage tree at $REGSQL_BENCH_TREE
// (make bench sets it to the largest tree it generated) into a Sink that
// keeps nothing: a build's walk without its database, the counterpart of
// index's BenchmarkBuildTree. It skips without the variable.
func BenchmarkWalkTree(b *testing.B) {
	root := os.Getenv("REGSQL_BENCH_TREE")
	if root == "" {
		b.Skip("$REGSQL_BENCH_TREE names no storage tree")
	}
	st, err := walker.OpenRoot(root)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := walker.Walk(context.Background(), st, discard{}, walker.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// discard is a Sink that keeps nothing.
type discard struct{}

func (discard) Repository(walker.Repository) error { return nil }
func (discard) Tag(walker.Tag) error               { return nil }
func (discard) TagHistory(walker.TagHistory) error { return nil }
func (discard) Revision(walker.Revision) error     { return nil }
func (discard) LayerLink(walker.LayerLink) error   { return nil }
func (discard) Upload(walker.Upload) error         { return nil }
func (discard) Blob(walker.Blob) error             { return nil }
func (discard) Manifest(walker.Manifest) error     { return nil }
func (discard) Problem(walker.Problem) error       { return nil }

// TestWalkEmptyLinkDirs checks that the empty directories the registry's own
// deletes leave behind (a manifest deleted by digest, a blob deleted through
// the API, a layer link swept by GC) are not problems: the registry ignores
// them, and a flood of false problems would hide the real ones. An empty
// current/ of a tag is different: the registry lists that tag but cannot
// resolve it.
func TestWalkEmptyLinkDirs(t *testing.T) {
	tree := storageTree{}
	tree.tag("app", "v1", tree.image("app", "amd64", []byte("layer")))
	dir := t.TempDir()
	writeTree(t, filepath.Join(dir, v2), tree)
	gone := digest.FromString("deleted")
	for _, p := range []string{
		path.Dir(revisionPath("app", gone)),
		path.Dir(layerPath("app", gone)),
		path.Dir(strings.Replace(tagCurrentPath("app", "v1"), "/current/", "/index/sha256/"+gone.Encoded()+"/", 1)),
	} {
		mkdirAll(t, filepath.Join(dir, v2, p))
	}
	st, err := walker.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := walk(t, st)
	if len(rec.problems) != 0 {
		t.Errorf("problems = %+v, want none for empty link directories", rec.problems)
	}
	if len(rec.revisions) != 1 || len(rec.layerLinks) == 0 {
		t.Errorf("revisions, layer links = %d, %d, want 1 and the image's links", len(rec.revisions), len(rec.layerLinks))
	}

	mkdirAll(t, filepath.Join(dir, v2, path.Dir(tagCurrentPath("app", "v2"))))
	rec, _ = walk(t, st)
	want := []walker.Problem{{Kind: walker.ProblemMissingLink, Path: tagCurrentPath("app", "v2"), Repo: "app"}}
	if len(rec.problems) != 1 || rec.problems[0].Kind != want[0].Kind || rec.problems[0].Path != want[0].Path {
		t.Errorf("problems = %+v, want %+v", rec.problems, want)
	}
}

// TestWalkSymlinkedLinkDirs checks that a revision or layer link directory
// that is a symbolic link is followed, as the registry's driver does, and
// recorded as a symlink problem: an incremental index relies on it.
func TestWalkSymlinkedLinkDirs(t *testing.T) {
	tree := storageTree{}
	layer := []byte("layer")
	m := tree.image("app", "amd64", layer)
	tree.tag("app", "v1", m)
	tree.tag("lib", "v1", tree.image("lib", "amd64", []byte("lib layer")))
	dir := t.TempDir()
	writeTree(t, filepath.Join(dir, v2), tree)
	links := map[string]string{ // in lib, to app's
		path.Dir(layerPath("lib", digest.FromBytes(layer))): path.Dir(layerPath("app", digest.FromBytes(layer))),
		path.Dir(revisionPath("lib", m)):                    path.Dir(revisionPath("app", m)),
	}
	for link, target := range links {
		if err := os.Symlink(filepath.Join(dir, v2, target), filepath.Join(dir, v2, link)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := walker.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := walk(t, st)
	var got []string
	for _, p := range rec.problems {
		if p.Kind != walker.ProblemSymlink || p.Repo != "lib" {
			t.Errorf("problem %+v, want only symlink problems in lib", p)
		}
		got = append(got, p.Path)
	}
	slices.Sort(got)
	want := slices.Sorted(maps.Keys(links))
	if !slices.Equal(got, want) {
		t.Errorf("symlink problems at %q, want %q", got, want)
	}
	var layers, revisions int
	for _, l := range rec.layerLinks {
		if l.Repo == "lib" && l.Digest == digest.FromBytes(layer) {
			layers++
		}
	}
	for _, r := range rec.revisions {
		if r.Repo == "lib" && r.Digest == m {
			revisions++
		}
	}
	if layers != 1 || revisions != 1 {
		t.Errorf("lib's layer link and revision through the symbolic links: %d, %d, want 1 each", layers, revisions)
	}
}

// TestWalkTrustsLinkPaths checks what a default walk takes from paths
// without reading: a revision link of its digest's length is taken to hold
// that digest (an alias of the same length is seen only when revision
// links are read), and a digest directory whose only subdirectory is
// sha256/ is not listed (a stray file beside it is seen only with Verify),
// while a second algorithm's directory is still walked.
func TestWalkTrustsLinkPaths(t *testing.T) {
	tree := storageTree{}
	a := tree.image("app", "amd64", []byte("layer a"))
	b := tree.image("other", "amd64", []byte("layer b"))
	tree.tag("app", "v1", a)
	tree.link(revisionPath("app", a), b) // an alias of the same length
	sum := sha512.Sum512([]byte("by sha512"))
	long := digest.NewDigestFromEncoded(digest.SHA512, hex.EncodeToString(sum[:]))
	tree[blobPath(long)] = []byte("by sha512")
	tree.link(layerPath("app", long), long)
	longLink := problemKey{walker.ProblemNonSHA256, layerPath("app", long)}
	stray := repoPath("app") + "/_layers/notes.txt"
	tree[stray] = []byte("a stray file beside sha256/ and sha512/")
	strayRev := repoPath("other") + "/_manifests/revisions/notes.txt"
	tree[strayRev] = []byte("a stray file beside sha256/ alone")
	st := openTree(t, tree)

	revisionOf := func(rec *recorder, repo string) walker.Revision {
		t.Helper()
		for _, r := range rec.revisions {
			if r.Repo == repo {
				return r
			}
		}
		t.Fatalf("no revision of %q among %+v", repo, rec.revisions)
		return walker.Revision{}
	}
	for _, tt := range []struct {
		name       string
		opts       walker.Options
		wantTarget digest.Digest
		want       []problemKey
	}{
		{"default", walker.Options{}, a, []problemKey{{walker.ProblemStrayFile, stray}, longLink}},
		{"read revision links", walker.Options{ReadRevisionLinks: true}, b, []problemKey{
			{walker.ProblemRevisionAlias, revisionPath("app", a)},
			{walker.ProblemStrayFile, stray},
			longLink,
		}},
		{"verify", walker.Options{Verify: true}, b, []problemKey{
			{walker.ProblemRevisionAlias, revisionPath("app", a)},
			{walker.ProblemStrayFile, stray},
			longLink,
			{walker.ProblemStrayFile, strayRev},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Workers = 2
			rec, _ := walkWith(t, st, tt.opts)
			if got := revisionOf(rec, "app"); got.Digest != a || got.Target != tt.wantTarget {
				t.Errorf("revision of app = %s -> %s, want %s -> %s", got.Digest, got.Target, a, tt.wantTarget)
			}
			slices.SortFunc(tt.want, func(a, b problemKey) int { return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Kind, b.Kind)) })
			if got := problemKeys(rec.problems); !slices.Equal(got, tt.want) {
				t.Errorf("problems = %+v\nwant %+v\nmessages: %v", got, tt.want, messages(rec.problems))
			}
			var layers []digest.Digest
			for _, l := range rec.layerLinks {
				if l.Repo == "app" {
					layers = append(layers, l.Digest)
				}
			}
			if !slices.Contains(layers, long) || len(layers) != 3 {
				t.Errorf("layer links of app = %v, want its image's two and %s", layers, long)
			}
		})
	}
}

// TestWalkTagHistoryByName checks that, without Verify, a tag whose
// history is one entry, the digest its current link names, has that entry
// looked up by name rather than its index/sha256/ listed (a stray file
// there goes unreported, as beside sha256/), and that any other history
// is listed: what the walk sends is the same either way.
func TestWalkTagHistoryByName(t *testing.T) {
	tree := storageTree{}
	a := tree.image("app", "amd64", []byte("layer a"))
	b := tree.image("app", "arm64", []byte("layer b"))
	tree.tag("app", "once", a)
	tree.tag("app", "moved", a)
	tree.tag("app", "moved", b)
	tree.tag("app", "edited", a)
	tree.link(tagCurrentPath("app", "edited"), b) // by hand: its history does not have b
	strayOnce := filepath.Dir(filepath.Dir(tagIndexPath("app", "once", a))) + "/notes.txt"
	strayEdited := filepath.Dir(filepath.Dir(tagIndexPath("app", "edited", a))) + "/notes.txt"
	tree[strayOnce] = []byte("a stray file beside the one history entry")
	tree[strayEdited] = []byte("a stray file beside the one history entry")
	st := openTree(t, tree)

	history := func(rec *recorder) []string {
		var out []string
		for _, h := range rec.history {
			out = append(out, fmt.Sprintf("%s:%s %s %d", h.Repo, h.Tag, h.Digest, h.LinkedAt.UnixNano()))
		}
		slices.Sort(out)
		return out
	}
	def, _ := walkWith(t, st, walker.Options{Workers: 2})
	ver, _ := walkWith(t, st, walker.Options{Workers: 2, Verify: true})
	if got, want := history(def), history(ver); !slices.Equal(got, want) || len(got) != 4 {
		t.Errorf("tag history = %v\nwith Verify %v, want the same 4 entries", got, want)
	}
	stray := func(rec *recorder) []string {
		var out []string
		for _, p := range rec.problems {
			if p.Kind == walker.ProblemStrayFile {
				out = append(out, p.Path)
			}
		}
		slices.Sort(out)
		return out
	}
	if got, want := stray(def), []string{strayEdited}; !slices.Equal(got, want) {
		t.Errorf("stray files found = %v, want %v (only the history that is not its current digest is listed)", got, want)
	}
	if got, want := stray(ver), []string{strayEdited, strayOnce}; !slices.Equal(got, want) {
		t.Errorf("stray files found with Verify = %v, want %v", got, want)
	}
}
