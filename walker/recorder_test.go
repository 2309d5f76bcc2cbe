package walker_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/walker"
)

// recorder is a Sink that keeps every record and checks the Sink contract
// as records arrive: a repository comes before any record naming it, and a
// manifest comes once.
type recorder struct {
	repos       []walker.Repository
	tags        []walker.Tag
	history     []walker.TagHistory
	revisions   []walker.Revision
	layerLinks  []walker.LayerLink
	uploads     []walker.Upload
	blobs       []walker.Blob
	manifests   []walker.Manifest
	problems    []walker.Problem
	violations  []string
	seenRepos   map[string]bool
	seenDigests map[digest.Digest]bool
}

func newRecorder() *recorder {
	return &recorder{seenRepos: map[string]bool{}, seenDigests: map[digest.Digest]bool{}}
}

func (r *recorder) named(kind, repo string) {
	if repo != "" && !r.seenRepos[repo] {
		r.violations = append(r.violations, fmt.Sprintf("%s names repository %q before it was emitted", kind, repo))
	}
}

func (r *recorder) Repository(x walker.Repository) error {
	if r.seenRepos[x.Name] {
		r.violations = append(r.violations, fmt.Sprintf("repository %q emitted twice", x.Name))
	}
	r.seenRepos[x.Name] = true
	r.repos = append(r.repos, x)
	return nil
}

func (r *recorder) Tag(x walker.Tag) error {
	r.named("tag", x.Repo)
	r.tags = append(r.tags, x)
	return nil
}

func (r *recorder) TagHistory(x walker.TagHistory) error {
	r.named("tag history", x.Repo)
	r.history = append(r.history, x)
	return nil
}

func (r *recorder) Revision(x walker.Revision) error {
	r.named("revision", x.Repo)
	r.revisions = append(r.revisions, x)
	return nil
}

func (r *recorder) LayerLink(x walker.LayerLink) error {
	r.named("layer link", x.Repo)
	r.layerLinks = append(r.layerLinks, x)
	return nil
}

func (r *recorder) Upload(x walker.Upload) error {
	r.named("upload", x.Repo)
	r.uploads = append(r.uploads, x)
	return nil
}

func (r *recorder) Blob(x walker.Blob) error {
	r.blobs = append(r.blobs, x)
	return nil
}

func (r *recorder) Manifest(x walker.Manifest) error {
	if r.seenDigests[x.Digest] {
		r.violations = append(r.violations, fmt.Sprintf("manifest %s emitted twice", x.Digest))
	}
	r.seenDigests[x.Digest] = true
	r.manifests = append(r.manifests, x)
	return nil
}

func (r *recorder) Problem(x walker.Problem) error {
	r.named("problem", x.Repo)
	r.problems = append(r.problems, x)
	return nil
}

// sort puts every record list in a fixed order, so that two walks compare.
func (r *recorder) sort() {
	slices.SortFunc(r.repos, func(a, b walker.Repository) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(r.tags, func(a, b walker.Tag) int { return cmp.Or(cmp.Compare(a.Repo, b.Repo), cmp.Compare(a.Name, b.Name)) })
	slices.SortFunc(r.history, func(a, b walker.TagHistory) int {
		return cmp.Or(cmp.Compare(a.Repo, b.Repo), cmp.Compare(a.Tag, b.Tag), cmp.Compare(a.Digest, b.Digest))
	})
	slices.SortFunc(r.revisions, func(a, b walker.Revision) int {
		return cmp.Or(cmp.Compare(a.Repo, b.Repo), cmp.Compare(a.Digest, b.Digest))
	})
	slices.SortFunc(r.layerLinks, func(a, b walker.LayerLink) int {
		return cmp.Or(cmp.Compare(a.Repo, b.Repo), cmp.Compare(a.Digest, b.Digest))
	})
	slices.SortFunc(r.uploads, func(a, b walker.Upload) int { return cmp.Or(cmp.Compare(a.Repo, b.Repo), cmp.Compare(a.UUID, b.UUID)) })
	slices.SortFunc(r.blobs, func(a, b walker.Blob) int { return cmp.Compare(a.Digest, b.Digest) })
	slices.SortFunc(r.manifests, func(a, b walker.Manifest) int { return cmp.Compare(a.Digest, b.Digest) })
	slices.SortFunc(r.problems, compareProblems)
}

func compareProblems(a, b walker.Problem) int {
	return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Message, b.Message))
}

// walk walks st with a recorder, failing the test on an error or a broken
// Sink contract.
func walk(t *testing.T, st walker.Storage) (*recorder, walker.Stats) {
	t.Helper()
	return walkWith(t, st, walker.Options{Workers: 4})
}

// walkWith is walk with options.
func walkWith(t *testing.T, st walker.Storage, opts walker.Options) (*recorder, walker.Stats) {
	t.Helper()
	rec := newRecorder()
	stats, err := walker.Walk(context.Background(), st, rec, opts)
	if err != nil {
		t.Fatalf("Walk() error = %v", err)
	}
	for _, v := range rec.violations {
		t.Errorf("sink contract: %s", v)
	}
	rec.sort()
	return rec, stats
}

// problemKey is what the fixture tests compare problems by.
type problemKey struct {
	Kind walker.ProblemKind
	Path string
}

func problemKeys(ps []walker.Problem) []problemKey {
	keys := make([]problemKey, 0, len(ps))
	for _, p := range ps {
		keys = append(keys, problemKey{p.Kind, p.Path})
	}
	slices.SortFunc(keys, func(a, b problemKey) int { return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Kind, b.Kind)) })
	return keys
}
