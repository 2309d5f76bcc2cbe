package gen_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/regsql/regsql/internal/gen"
	"github.com/regsql/regsql/internal/registrytest"
)

func TestPreset(t *testing.T) {
	tests := []struct {
		name  string
		ok    bool
		repos int
	}{
		{name: "small", ok: true, repos: 90},
		{name: "medium", ok: true, repos: 1750},
		{name: "large", ok: true, repos: 8700},
		{name: "huge", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := gen.Preset(tt.name)
			if ok != tt.ok || p.Repos != tt.repos {
				t.Errorf("Preset(%q) = %d repos, %v, want %d, %v", tt.name, p.Repos, ok, tt.repos, tt.ok)
			}
		})
	}
}

func TestGenerateRefuses(t *testing.T) {
	used := t.TempDir()
	if err := os.Mkdir(filepath.Join(used, "docker"), 0o755); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		dir  string
		p    gen.Params
		want error
	}{
		{name: "no repositories", ctx: context.Background(), dir: t.TempDir(), p: gen.Params{Seed: 1}, want: gen.ErrBadParams},
		{name: "short history", ctx: context.Background(), dir: t.TempDir(), want: gen.ErrBadParams,
			p: gen.Params{Seed: 1, Repos: 3, Start: gen.DefaultEnd.AddDate(0, -1, 0)}},
		{name: "existing tree", ctx: context.Background(), dir: used, p: gen.Params{Seed: 1, Repos: 3}, want: gen.ErrExists},
		{name: "cancelled", ctx: cancelled, dir: t.TempDir(), p: gen.Params{Seed: 1, Repos: 3}, want: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := gen.Generate(tt.ctx, tt.dir, tt.p); !errors.Is(err, tt.want) {
				t.Errorf("Generate() = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestGenerateIsDeterministic generates the same parameters twice, with
// different numbers of workers, and compares every path, byte and mtime.
func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	p := gen.Params{Seed: 7, Repos: 12}
	snapshot := func(seed int64, workers int) (map[string]string, gen.Stats) {
		dir := t.TempDir()
		q := p
		q.Seed, q.Workers = seed, workers
		st, err := gen.Generate(context.Background(), dir, q)
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]string{}
		err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			if d.IsDir() {
				files[rel] = "dir"
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			files[rel] = hex.EncodeToString(sum[:]) + " " + info.ModTime().UTC().Format(time.RFC3339Nano) + " " + info.Mode().String()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return files, st
	}

	a, statsA := snapshot(p.Seed, 1)
	b, statsB := snapshot(p.Seed, 4)
	if statsA != statsB {
		t.Errorf("Stats differ between runs:\n%+v\n%+v", statsA, statsB)
	}
	if len(a) != len(b) {
		t.Errorf("runs wrote %d and %d paths, want equal", len(a), len(b))
	}
	diffs := 0
	for _, path := range slices.Sorted(maps.Keys(a)) {
		if a[path] != b[path] && diffs < 5 {
			diffs++
			t.Errorf("%s = %q in one run, %q in the other", path, a[path], b[path])
		}
	}

	c, _ := snapshot(p.Seed+1, 4)
	if maps.Equal(a, c) {
		t.Errorf("seeds %d and %d gave identical trees, want different", p.Seed, p.Seed+1)
	}
}

// TestTreeIsConsistent walks a generated tree the way the registry reads it
// and checks every invariant the registry and its clients rely on, then
// checks that Stats counts what is on disk.
func TestTreeIsConsistent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var mu sync.Mutex
	summaries := map[string]gen.Repository{}
	st, err := gen.Generate(context.Background(), dir, gen.Params{
		Seed:  1,
		Repos: 40,
		OnRepository: func(r gen.Repository) {
			mu.Lock()
			defer mu.Unlock()
			summaries[r.Name] = r
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tree := readTree(t, dir)
	got := tree.check(t)

	want := gen.Stats{
		Repositories: st.Repositories, Abandoned: st.Abandoned, Tags: st.Tags, MovedTags: st.MovedTags,
		Manifests: st.Manifests, Indexes: st.Indexes, Artifacts: st.Artifacts, Revisions: st.Revisions,
		Untagged: st.Untagged, Blobs: st.Blobs, OrphanBlobs: st.OrphanBlobs, LayerLinks: st.LayerLinks,
		TagLinks: st.TagLinks, IndexLinks: st.IndexLinks, Uploads: st.Uploads, LinkFiles: st.LinkFiles,
		Files: st.Files, Dirs: st.Dirs, Bytes: st.Bytes,
	}
	if got != want {
		t.Errorf("on disk:\n%+v\nStats:\n%+v", got, want)
	}

	// The tree shows every feature the generator promises.
	features := []struct {
		name string
		n    int
	}{
		{"abandoned directories", st.Abandoned},
		{"moved tags", st.MovedTags},
		{"indexes", st.Indexes},
		{"artifacts", st.Artifacts},
		{"untagged revisions", st.Untagged},
		{"orphan blobs", st.OrphanBlobs},
		{"uploads", st.Uploads},
		{"manifests in several repositories", st.Revisions - st.Manifests},
		{"docker manifests", tree.mediaTypes["application/vnd.docker.distribution.manifest.v2+json"]},
		{"docker manifest lists", tree.mediaTypes["application/vnd.docker.distribution.manifest.list.v2+json"]},
		{"oci manifests", tree.mediaTypes[v1.MediaTypeImageManifest]},
		{"oci indexes", tree.mediaTypes[v1.MediaTypeImageIndex]},
		{"deleted revisions", tree.deletedRevisions},
		{"nested repositories", tree.nested},
	}
	for _, f := range features {
		if f.n == 0 {
			t.Errorf("tree has no %s", f.name)
		}
	}

	if len(summaries) != st.Repositories {
		t.Errorf("OnRepository called for %d repositories, want %d", len(summaries), st.Repositories)
	}
	for name, r := range summaries {
		repo := tree.repos[name]
		if repo == nil {
			t.Errorf("OnRepository(%q): no such repository on disk", name)
			continue
		}
		if !maps.Equal(r.Tags, repo.tags) {
			t.Errorf("OnRepository(%q).Tags = %v, want %v", name, r.Tags, repo.tags)
		}
		if revs := slices.Sorted(maps.Keys(repo.revisions)); !slices.Equal(r.Revisions, revs) {
			t.Errorf("OnRepository(%q).Revisions = %v, want %v", name, r.Revisions, revs)
		}
	}
}

// TestRegistryServesTree starts the real registry on a generated tree and
// pulls every tag of every repository through the API.
func TestRegistryServesTree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var mu sync.Mutex
	want := map[string]gen.Repository{}
	if _, err := gen.Generate(context.Background(), dir, gen.Params{
		Seed:  11,
		Repos: 20,
		OnRepository: func(r gen.Repository) {
			mu.Lock()
			defer mu.Unlock()
			want[r.Name] = r
		},
	}); err != nil {
		t.Fatal(err)
	}
	reg := registrytest.Start(t, registrytest.WithRoot(dir))

	catalog, err := reg.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(catalog)
	if names := slices.Sorted(maps.Keys(want)); !slices.Equal(catalog, names) {
		t.Errorf("Catalog() = %v, want %v", catalog, names)
	}

	pulls := 0
	for _, name := range slices.Sorted(maps.Keys(want)) {
		repo := want[name]
		tags, err := reg.Tags(name)
		if err != nil {
			t.Errorf("Tags(%q): %v", name, err)
			continue
		}
		if wantTags := slices.Sorted(maps.Keys(repo.Tags)); !slices.Equal(tags, wantTags) {
			t.Errorf("Tags(%q) = %v, want %v", name, tags, wantTags)
		}
		for _, tag := range tags {
			got, err := reg.Pull(name, tag)
			if err != nil {
				t.Errorf("Pull(%q, %q): %v", name, tag, err)
				continue
			}
			if got != repo.Tags[tag] {
				t.Errorf("Pull(%q, %q) = %s, want %s", name, tag, got, repo.Tags[tag])
			}
			pulls++
		}
		// Untagged revisions are served by digest.
		tagged := slices.Collect(maps.Values(repo.Tags))
		for _, d := range repo.Revisions {
			if slices.Contains(tagged, d) {
				continue
			}
			if _, err := reg.Pull(name, d.String()); err != nil {
				t.Errorf("Pull(%q, %s): %v", name, d, err)
			}
		}
	}
	if pulls == 0 {
		t.Error("pulled nothing")
	}
}

// TestMarkAndSweepAcceptsTree runs the registry's own garbage collector
// (dry run) on a generated tree: it aborts on anything it cannot read.
func TestMarkAndSweepAcceptsTree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := gen.Generate(context.Background(), dir, gen.Params{Seed: 5, Repos: 30}); err != nil {
		t.Fatal(err)
	}
	reg := registrytest.Start(t, registrytest.WithRoot(dir))
	ctx := context.Background()
	ns, err := storage.NewRegistry(ctx, reg.Driver())
	if err != nil {
		t.Fatal(err)
	}
	for _, untagged := range []bool{false, true} {
		opts := storage.GCOpts{DryRun: true, RemoveUntagged: untagged, Quiet: true}
		if err := storage.MarkAndSweep(ctx, reg.Driver(), ns, opts); err != nil {
			t.Errorf("MarkAndSweep(%+v) = %v", opts, err)
		}
	}
}

// tree is a generated storage tree read back from disk.
type tree struct {
	root             string // docker/registry/v2
	dirs             int
	blobs            map[digest.Digest]fileInfo
	repos            map[string]*repoOnDisk
	abandoned        map[string]*repoOnDisk // directories without _manifests
	uploads          int
	files            int
	bytes            int64
	links            int
	mediaTypes       map[string]int
	deletedRevisions int
	nested           int
}

type fileInfo struct {
	data  []byte
	mtime time.Time
}

type repoOnDisk struct {
	layers    map[digest.Digest]time.Time
	revisions map[digest.Digest]time.Time
	tags      map[string]digest.Digest
	tagTimes  map[string]time.Time
	history   map[string]map[digest.Digest]time.Time
}

var (
	linkContent   = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	nameComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`)
	tagName       = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
)

// readTree reads every file under dir, failing on any path the registry's
// layout has no place for.
func readTree(t *testing.T, dir string) *tree {
	t.Helper()
	tr := &tree{
		root:       filepath.Join(dir, "docker", "registry", "v2"),
		blobs:      map[digest.Digest]fileInfo{},
		repos:      map[string]*repoOnDisk{},
		abandoned:  map[string]*repoOnDisk{},
		mediaTypes: map[string]int{},
	}
	repo := func(name string) *repoOnDisk {
		r := tr.repos[name]
		if r == nil {
			r = &repoOnDisk{
				layers:    map[digest.Digest]time.Time{},
				revisions: map[digest.Digest]time.Time{},
				tags:      map[string]digest.Digest{},
				tagTimes:  map[string]time.Time{},
				history:   map[string]map[digest.Digest]time.Time{},
			}
			tr.repos[name] = r
		}
		return r
	}
	layersOnly := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(path, tr.root+string(filepath.Separator)))
		if d.IsDir() {
			if path != dir {
				tr.dirs++
			}
			if repoName, ok := strings.CutSuffix(rel, "/_manifests"); ok && strings.HasPrefix(repoName, "repositories/") {
				repo(strings.TrimPrefix(repoName, "repositories/"))
			}
			if strings.HasPrefix(rel, "repositories/") && strings.Contains(rel, "/_manifests/revisions/sha256/") {
				if entries, err := os.ReadDir(path); err == nil && len(entries) == 0 {
					tr.deletedRevisions++
				}
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		tr.files++
		tr.bytes += int64(len(data))
		mtime := info.ModTime().UTC()
		parts := strings.Split(rel, "/")
		switch {
		case parts[0] == "blobs":
			if len(parts) != 5 || parts[1] != "sha256" || parts[4] != "data" || parts[2] != parts[3][:2] {
				t.Errorf("%s: not a blob path", rel)
				return nil
			}
			sum := sha256.Sum256(data)
			if got := hex.EncodeToString(sum[:]); got != parts[3] {
				t.Errorf("%s: content hashes to %s", rel, got)
			}
			tr.blobs[digest.NewDigestFromEncoded(digest.SHA256, parts[3])] = fileInfo{data, mtime}
		case parts[0] == "repositories":
			i := slices.IndexFunc(parts, func(p string) bool { return strings.HasPrefix(p, "_") })
			if i < 2 {
				t.Errorf("%s: not in a repository", rel)
				return nil
			}
			name := strings.Join(parts[1:i], "/")
			rest := parts[i:]
			if _, err := os.Stat(filepath.Join(tr.root, "repositories", name, "_manifests")); err != nil {
				layersOnly[name] = true
			}
			tr.repoFile(t, rel, repo(name), rest, data, mtime)
		default:
			t.Errorf("%s: unexpected file", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range layersOnly {
		tr.abandoned[name] = tr.repos[name]
		delete(tr.repos, name)
	}
	return tr
}

func (tr *tree) repoFile(t *testing.T, rel string, r *repoOnDisk, rest []string, data []byte, mtime time.Time) {
	t.Helper()
	if rest[0] == "_uploads" {
		tr.uploadFile(t, rel, rest, data, mtime)
		return
	}
	if rest[len(rest)-1] != "link" {
		t.Errorf("%s: unexpected file", rel)
		return
	}
	tr.links++
	if !linkContent.Match(data) {
		t.Errorf("%s: link content %q, want exactly sha256:<hex>", rel, data)
		return
	}
	d := digest.Digest(data)
	pathDigest := func(alg, hex string) {
		if alg != "sha256" || hex != d.Encoded() {
			t.Errorf("%s: holds %s, want the digest of its path", rel, d)
		}
	}
	switch {
	case rest[0] == "_layers" && len(rest) == 4:
		pathDigest(rest[1], rest[2])
		r.layers[d] = mtime
	case rest[0] == "_manifests" && rest[1] == "revisions" && len(rest) == 5:
		pathDigest(rest[2], rest[3])
		r.revisions[d] = mtime
	case rest[0] == "_manifests" && rest[1] == "tags" && len(rest) == 5 && rest[3] == "current":
		r.tags[rest[2]] = d
		r.tagTimes[rest[2]] = mtime
	case rest[0] == "_manifests" && rest[1] == "tags" && len(rest) == 7 && rest[3] == "index":
		pathDigest(rest[4], rest[5])
		if r.history[rest[2]] == nil {
			r.history[rest[2]] = map[digest.Digest]time.Time{}
		}
		r.history[rest[2]][d] = mtime
	default:
		t.Errorf("%s: unexpected link", rel)
	}
}

func (tr *tree) uploadFile(t *testing.T, rel string, rest []string, data []byte, mtime time.Time) {
	t.Helper()
	switch {
	case len(rest) == 3 && rest[2] == "startedat":
		tr.uploads++
		started, err := time.Parse(time.RFC3339, string(data))
		if err != nil || !started.Equal(mtime) {
			t.Errorf("%s = %q (%v), mtime %s: want an RFC 3339 time equal to the mtime", rel, data, err, mtime)
		}
	case len(rest) == 3 && rest[2] == "data":
	case len(rest) == 5 && rest[2] == "hashstates" && rest[3] == "sha256":
		offset, err := strconv.Atoi(rest[4])
		if err != nil {
			t.Errorf("%s: offset is not a number", rel)
			return
		}
		uploadDir, _, _ := strings.Cut(rel, "/hashstates/")
		upload, err := os.ReadFile(filepath.Join(tr.root, filepath.FromSlash(uploadDir), "data"))
		if err != nil || (offset != 0 && offset != len(upload)) {
			t.Errorf("%s: offset %d for %d bytes of data (%v)", rel, offset, len(upload), err)
		}
		if !bytes.HasPrefix(data, []byte("sha\x03")) {
			t.Errorf("%s: not a saved sha256 state", rel)
		}
	default:
		t.Errorf("%s: unexpected upload file", rel)
	}
}

// check verifies what the registry and a client rely on and returns the
// counts that Stats should report.
func (tr *tree) check(t *testing.T) gen.Stats {
	t.Helper()
	st := gen.Stats{
		Repositories: len(tr.repos), Abandoned: len(tr.abandoned), Blobs: len(tr.blobs),
		Uploads: tr.uploads, LinkFiles: tr.links, Files: tr.files, Dirs: tr.dirs, Bytes: tr.bytes,
	}
	linked := map[digest.Digest]bool{}
	manifests := map[digest.Digest]bool{}
	blobAt := func(where string, d digest.Digest, linkTime time.Time) *fileInfo {
		b, ok := tr.blobs[d]
		if !ok {
			t.Errorf("%s: names %s, which is not a blob", where, d)
			return nil
		}
		if linkTime.Before(b.mtime) {
			t.Errorf("%s: linked at %s, before its blob was written at %s", where, linkTime, b.mtime)
		}
		linked[d] = true
		return &b
	}
	// Abandoned directories link layers too.
	for name, r := range tr.abandoned {
		st.LayerLinks += len(r.layers)
		for d, at := range r.layers {
			blobAt(name+" layer link", d, at)
		}
	}
	for name, r := range tr.repos {
		for _, c := range strings.Split(name, "/") {
			if !nameComponent.MatchString(c) {
				t.Errorf("repository %q: component %q breaks the reference grammar", name, c)
			}
		}
		if strings.Count(name, "/") >= 2 && tr.repos[name[:strings.LastIndex(name, "/")]] != nil {
			tr.nested++
		}
		st.LayerLinks += len(r.layers)
		for d, at := range r.layers {
			blobAt(name+" layer link", d, at)
		}
		current := map[digest.Digest]bool{}
		for tag, d := range r.tags {
			st.Tags++
			st.TagLinks++
			current[d] = true
			if !tagName.MatchString(tag) {
				t.Errorf("%s:%s: tag breaks the grammar", name, tag)
			}
			if _, ok := r.revisions[d]; !ok {
				t.Errorf("%s:%s names %s, which is not a revision", name, tag, d)
			}
			blobAt(name+":"+tag, d, r.tagTimes[tag])
			history := r.history[tag]
			if at, ok := history[d]; !ok || !at.Equal(r.tagTimes[tag]) {
				t.Errorf("%s:%s: index entry for its current %s at %v, want at %s", name, tag, d, at, r.tagTimes[tag])
			}
			for hd, at := range history {
				if at.After(r.tagTimes[tag]) {
					t.Errorf("%s:%s: index entry %s at %s, after the last push %s", name, tag, hd, at, r.tagTimes[tag])
				}
				blobAt(name+":"+tag+" index", hd, at)
			}
		}
		for tag, history := range r.history {
			if _, ok := r.tags[tag]; !ok {
				t.Errorf("%s:%s: index without current/link", name, tag)
			}
			st.IndexLinks += len(history)
			if len(history) > 1 {
				st.MovedTags++
			}
		}
		for d, at := range r.revisions {
			st.Revisions++
			if !current[d] {
				st.Untagged++
			}
			b := blobAt(name+"@"+d.String(), d, at)
			if b == nil {
				continue
			}
			kind := tr.checkManifest(t, name, r, d, b.data)
			if !manifests[d] {
				manifests[d] = true
				st.Manifests++
				switch kind {
				case "index":
					st.Indexes++
				case "artifact":
					st.Artifacts++
				}
			}
		}
	}
	for d := range tr.blobs {
		if !linked[d] {
			st.OrphanBlobs++
		}
	}
	return st
}

// checkManifest parses a revision and checks that everything it references
// is where a pull looks for it, with the size its descriptor says.
func (tr *tree) checkManifest(t *testing.T, repo string, r *repoOnDisk, d digest.Digest, data []byte) string {
	t.Helper()
	var m struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		ArtifactType  string          `json:"artifactType"`
		Config        *v1.Descriptor  `json:"config"`
		Layers        []v1.Descriptor `json:"layers"`
		Manifests     []v1.Descriptor `json:"manifests"`
		Subject       *v1.Descriptor  `json:"subject"`
	}
	if err := json.Unmarshal(data, &m); err != nil || m.SchemaVersion != 2 {
		t.Errorf("%s@%s: schema %d, %v", repo, d, m.SchemaVersion, err)
		return ""
	}
	tr.mediaTypes[m.MediaType]++
	size := func(what string, desc v1.Descriptor) {
		b, ok := tr.blobs[desc.Digest]
		if !ok {
			t.Errorf("%s@%s: %s %s is not a blob", repo, d, what, desc.Digest)
			return
		}
		if int64(len(b.data)) != desc.Size {
			t.Errorf("%s@%s: %s %s is %d bytes, descriptor says %d", repo, d, what, desc.Digest, len(b.data), desc.Size)
		}
	}
	switch m.MediaType {
	case v1.MediaTypeImageIndex, "application/vnd.docker.distribution.manifest.list.v2+json":
		if len(m.Manifests) == 0 {
			t.Errorf("%s@%s: empty index", repo, d)
		}
		for _, c := range m.Manifests {
			size("child", c)
			if _, ok := r.revisions[c.Digest]; !ok {
				t.Errorf("%s@%s: child %s is not a revision of the repository", repo, d, c.Digest)
			}
		}
		return "index"
	case v1.MediaTypeImageManifest, "application/vnd.docker.distribution.manifest.v2+json":
		if m.Config == nil {
			t.Errorf("%s@%s: no config", repo, d)
			return ""
		}
		for _, desc := range append([]v1.Descriptor{*m.Config}, m.Layers...) {
			size("blob", desc)
			if _, ok := r.layers[desc.Digest]; !ok {
				t.Errorf("%s@%s: %s has no layer link in the repository", repo, d, desc.Digest)
			}
		}
		if m.Subject != nil {
			size("subject", *m.Subject)
			if m.ArtifactType == "" || m.Config.MediaType != v1.MediaTypeEmptyJSON {
				t.Errorf("%s@%s: artifact of type %q with config %s", repo, d, m.ArtifactType, m.Config.MediaType)
			}
			return "artifact"
		}
		return "image"
	default:
		t.Errorf("%s@%s: media type %q", repo, d, m.MediaType)
		return ""
	}
}
