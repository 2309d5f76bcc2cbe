package walker_test

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/walker"
)

// clockLag is more than a file system's change times lag the clock
// time.Now reads (a tick of the kernel's coarse clock).
const clockLag = 30 * time.Millisecond

// rescanTree is a storage with a little of everything a rescan looks at,
// and the digests the cases below change.
type rescanTree struct {
	s                   storageTree
	appV1, appOld, libM digest.Digest
	leftover            digest.Digest // a revision whose link was deleted, its directory left
	libLayer, orphan    digest.Digest
	sha512Layer         digest.Digest // a blob none links yet, by its sha512
	// emptyDirs are directories the tree has with nothing in them: ones
	// the registry leaves behind, which a Baseline does not account for.
	emptyDirs []string
}

func newRescanTree() rescanTree {
	s := storageTree{}
	x := rescanTree{s: s}
	x.appV1 = s.image("app", "amd64", []byte("app layer"))
	s.tag("app", "v1", x.appV1)
	x.appOld = s.image("app", "arm64", []byte("old app layer"))
	s.tag("app", "latest", x.appOld)
	s.tag("app", "latest", x.appV1) // moved: history keeps appOld
	x.leftover = s.image("app", "s390x", []byte("deleted app layer"))
	delete(s, revisionPath("app", x.leftover))
	s.link(tagIndexPath("app", "broken", x.appOld), x.appOld) // history, and no current link
	x.libLayer = digest.FromBytes([]byte("lib layer"))
	x.libM = s.image("lib", "amd64", []byte("lib layer"))
	s.tag("lib", "v1", x.libM)
	s.tag("org/nested", "v1", s.image("org/nested", "amd64", []byte("nested layer")))
	s.layer("layers/only", s.blob([]byte("a layer no manifest uses")))
	s["repositories/up/_uploads/"+fixtureUploadUUID+"/startedat"] = []byte(fixtureStartedAt)
	s["repositories/up/_uploads/"+fixtureUploadUUID+"/data"] = []byte("part")
	s.tag("up", "v1", s.image("up", "amd64", []byte("up layer")))
	x.orphan = s.blob([]byte("an orphan blob"))
	sum := sha512.Sum512([]byte("an orphan blob"))
	x.sha512Layer = digest.NewDigestFromEncoded(digest.SHA512, hex.EncodeToString(sum[:]))
	x.emptyDirs = []string{
		filepath.Dir(revisionPath("app", x.leftover)),
		"repositories/org/empty",          // a repository's, all but the directory removed
		"repositories/lib/_layers/sha512", // its layer links deleted by hand
	}
	return x
}

// write writes the tree into a new directory, with its empty
// directories, and returns the storage.
func (x rescanTree) write(t *testing.T) *walker.DirStorage {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, x.s)
	for _, d := range x.emptyDirs {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return walker.NewDirStorage(dir)
}

// baseline walks st fully and returns what a Rescan needs of it.
func baseline(t *testing.T, st *walker.DirStorage) walker.Baseline {
	t.Helper()
	rec := newRecorder()
	if _, err := walker.Walk(context.Background(), st, rec, walker.Options{}); err != nil {
		t.Fatal(err)
	}
	blobs := map[digest.Digest]int64{}
	for _, b := range rec.blobs {
		blobs[b.Digest] = b.Size
	}
	dirs := repoDirs(t, rec)
	return walker.Baseline{
		Repos: rec.repos,
		Dirs:  func() (map[string]walker.RepoDirs, error) { return dirs, nil },
		Blob: func(d digest.Digest) (int64, bool) {
			size, ok := blobs[d]
			return size, ok
		},
		ShardBlobs: func(shard string, add func(digest.Digest)) error {
			for d := range blobs {
				alg, hex, _ := strings.Cut(string(d), ":")
				if alg+"/"+hex[:2] == shard {
					add(d)
				}
			}
			return nil
		},
	}
}

// repoDirs are the directories a walk found in each repository as the
// index keeps them: the paths of sha256 revisions and layer links, and the
// uploads.
func repoDirs(t *testing.T, rec *recorder) map[string]walker.RepoDirs {
	t.Helper()
	dirs := map[string]walker.RepoDirs{}
	// add appends the key of repo's sha256 link d to the list named by
	// which.
	add := func(repo string, d digest.Digest, which func(*walker.RepoDirs) *[][32]byte) {
		if d.Algorithm() != digest.SHA256 {
			return
		}
		var k [32]byte
		if _, err := hex.Decode(k[:], []byte(d.Encoded())); err != nil {
			t.Fatalf("link %s of %s: %v", d, repo, err)
		}
		rd := dirs[repo]
		*which(&rd) = append(*which(&rd), k)
		dirs[repo] = rd
	}
	for _, r := range rec.revisions {
		add(r.Repo, r.Digest, func(d *walker.RepoDirs) *[][32]byte { return &d.Revisions })
	}
	for _, l := range rec.layerLinks {
		add(l.Repo, l.Digest, func(d *walker.RepoDirs) *[][32]byte { return &d.Layers })
	}
	for _, u := range rec.uploads {
		d := dirs[u.Repo]
		d.Uploads = append(d.Uploads, u.UUID)
		dirs[u.Repo] = d
	}
	return dirs
}

// TestRescanFindsChanges makes each kind of change the registry, its
// garbage collector, its upload purger and regsql's own deleter make on
// the filesystem, in the ways its v2 driver (in place) and v3 driver
// (renamed into place) write, and checks that NewRescan finds exactly the
// repositories and blobs that changed.
func TestRescanFindsChanges(t *testing.T) {
	t.Parallel()
	x := newRescanTree()
	rewrite := func(p string, b []byte) func(t *testing.T, root string) {
		return func(t *testing.T, root string) {
			t.Helper()
			if err := os.WriteFile(filepath.Join(root, p), b, 0o644); err != nil { // O_TRUNC: in place
				t.Fatal(err)
			}
		}
	}
	rename := func(p string, b []byte) func(t *testing.T, root string) {
		return func(t *testing.T, root string) {
			t.Helper()
			full := filepath.Join(root, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full+".1234.tmp", b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(full+".1234.tmp", full); err != nil {
				t.Fatal(err)
			}
		}
	}
	remove := func(p string) func(t *testing.T, root string) {
		return func(t *testing.T, root string) {
			t.Helper()
			if err := os.RemoveAll(filepath.Join(root, p)); err != nil {
				t.Fatal(err)
			}
		}
	}
	both := func(fs ...func(t *testing.T, root string)) func(t *testing.T, root string) {
		return func(t *testing.T, root string) {
			for _, f := range fs {
				f(t, root)
			}
		}
	}
	newBlob := []byte("a blob pushed since")
	tests := []struct {
		name         string
		change       func(t *testing.T, root string)
		changed      []string
		removed      []string
		addedBlobs   []digest.Digest
		removedBlobs []digest.Digest
	}{
		{name: "nothing", change: func(*testing.T, string) {}},
		{name: "a tag pushed again, v2 driver", change: both(
			rewrite(revisionPath("app", x.appV1), []byte(x.appV1)),
			rewrite(tagIndexPath("app", "v1", x.appV1), []byte(x.appV1)),
			rewrite(tagCurrentPath("app", "v1"), []byte(x.appV1))), changed: []string{"app"}},
		{name: "a tag pushed again, v3 driver", change: both(
			rename(revisionPath("app", x.appV1), []byte(x.appV1)),
			rename(tagIndexPath("app", "v1", x.appV1), []byte(x.appV1)),
			rename(tagCurrentPath("app", "v1"), []byte(x.appV1))), changed: []string{"app"}},
		{name: "a manifest pushed again by digest, v2 driver", change: rewrite(revisionPath("lib", x.libM), []byte(x.libM)), changed: []string{"lib"}},
		{name: "an untagged manifest deleted", change: remove(revisionPath("app", x.appOld)), changed: []string{"app"}},
		{name: "a deleted manifest pushed again", change: rename(revisionPath("app", x.leftover), []byte(x.leftover)), changed: []string{"app"}},
		{name: "a tag deleted", change: remove("repositories/app/_manifests/tags/latest"), changed: []string{"app"}},
		// The history first, then the revision, as the registry's sweep
		// (vacuum.RemoveManifest) and regsql's remove them.
		{name: "an untagged manifest collected with its tag history", change: both(
			remove(filepath.Dir(tagIndexPath("app", "latest", x.appOld))),
			remove(filepath.Dir(tagIndexPath("app", "broken", x.appOld))),
			remove(filepath.Dir(revisionPath("app", x.appOld)))), changed: []string{"app"}},
		{name: "a tag pushed", change: both(
			rename(revisionPath("lib", x.libM), []byte(x.libM)),
			rename(tagIndexPath("lib", "v9", x.libM), []byte(x.libM)),
			rename(tagCurrentPath("lib", "v9"), []byte(x.libM))), changed: []string{"lib"}},
		{name: "a layer link deleted", change: remove(layerPath("lib", x.libLayer)), changed: []string{"lib"}},
		{name: "a layer link mounted again, v2 driver", change: rewrite(layerPath("lib", x.libLayer), []byte(x.libLayer)), changed: []string{"lib"}},
		{name: "a layer link directory removed", change: remove(filepath.Dir(layerPath("lib", x.libLayer))), changed: []string{"lib"}},
		// Only _layers/sha512/ changes, not _layers/.
		{name: "a layer link made in an algorithm directory left empty", change: rename(layerPath("lib", x.sha512Layer), []byte(x.sha512Layer)), changed: []string{"lib"}},
		{name: "a new repository", change: rename(revisionPath("org/new", x.libM), []byte(x.libM)), changed: []string{"org/new"}},
		// org/empty changes, org does not: its link count tells that the
		// Baseline does not account for all it holds.
		{name: "a repository pushed into a directory left empty", change: rename(revisionPath("org/empty", x.libM), []byte(x.libM)), changed: []string{"org/empty"}},
		// Making app/sub changes app's directory: app is read again too.
		{name: "a new repository below another", change: rename(revisionPath("app/sub", x.libM), []byte(x.libM)), changed: []string{"app", "app/sub"}},
		// The catalog does not look at what _manifests is; layers/ has
		// no new subdirectory, but changed.
		{name: "a file named _manifests makes a repository", change: rename("repositories/layers/_manifests", nil), changed: []string{"layers"}},
		{name: "layers appear in a repository", change: rename(layerPath("org/nested", x.libLayer), []byte(x.libLayer)), changed: []string{"org/nested"}},
		{name: "a repository removed", change: remove("repositories/lib"), removed: []string{"lib"}},
		{name: "a repository's _manifests removed", change: remove("repositories/lib/_manifests"), changed: []string{"lib"}},
		{name: "an upload grows", change: rewrite("repositories/up/_uploads/"+fixtureUploadUUID+"/data", []byte("partial data")), changed: []string{"up"}},
		{name: "an upload finished or purged", change: remove("repositories/up/_uploads/" + fixtureUploadUUID), changed: []string{"up"}},
		{name: "an upload started", change: rename("repositories/lib/_uploads/"+fixtureTmpUUID+"/startedat", []byte(fixtureStartedAt)), changed: []string{"lib"}},
		{name: "a blob pushed", change: rename(blobPath(digest.FromBytes(newBlob)), newBlob), addedBlobs: []digest.Digest{digest.FromBytes(newBlob)}},
		{name: "a blob collected", change: remove(filepath.Dir(blobPath(x.orphan))), removedBlobs: []digest.Digest{x.orphan}},
		{name: "a shard directory removed", change: remove(filepath.Dir(filepath.Dir(blobPath(x.orphan)))), removedBlobs: []digest.Digest{x.orphan}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := x.write(t)
			base := baseline(t, st)
			time.Sleep(clockLag)
			base.Since = time.Now()
			time.Sleep(clockLag)
			tt.change(t, st.Root())

			r, err := walker.NewRescan(context.Background(), st, base, walker.Options{})
			if err != nil {
				t.Fatalf("NewRescan() error = %v", err)
			}
			var added []digest.Digest
			for _, b := range r.AddedBlobs {
				added = append(added, b.Digest)
			}
			for _, c := range []struct {
				what      string
				got, want []string
			}{
				{"Changed", r.Changed, tt.changed},
				{"Removed", r.Removed, tt.removed},
				{"AddedBlobs", digests(added), digests(tt.addedBlobs)},
				{"RemovedBlobs", digests(r.RemovedBlobs), digests(tt.removedBlobs)},
			} {
				if !slices.Equal(c.got, c.want) {
					t.Errorf("NewRescan() %s = %v, want %v", c.what, c.got, c.want)
				}
			}
		})
	}
}

// TestRescanListsWhatItCannotName checks which directories of the
// repositories/ tree NewRescan lists when nothing changed: those whose
// link count says they hold a subdirectory the Baseline does not account
// for, and the ones it never knows the names in.
func TestRescanListsWhatItCannotName(t *testing.T) {
	t.Parallel()
	countsSubdirs(t)
	s := storageTree{}
	s.tag("a", "v1", s.image("a", "amd64", []byte("a layer")))
	s.tag("ns/b", "v1", s.image("ns/b", "amd64", []byte("b layer")))
	layer := filepath.Dir(layerPath("a", digest.FromBytes([]byte("a layer"))))
	tests := []struct {
		name     string
		dirs     []string // made empty
		files    []string
		symlinks map[string]string
		listed   int
	}{
		{name: "as the registry writes it", listed: 0},
		// ns/, and ns/c/, which has no names in the Baseline.
		{name: "a directory no repository is in", dirs: []string{"repositories/ns/c"}, listed: 2},
		{name: "a directory in a repository", dirs: []string{"repositories/a/_other"}, listed: 1},
		// _layers/ and _layers/sha512/.
		{name: "an algorithm directory beside sha256", dirs: []string{"repositories/a/_layers/sha512"}, listed: 2},
		{name: "stray files", files: []string{"repositories/ns/notes", "repositories/a/_manifests/revisions/notes"}, listed: 0},
		// The link count leaves out the link, which the walk follows, and
		// counts e/: repositories/ and e/ are listed. What is below the
		// link is the directories of a, counted.
		{name: "a symbolic link to a repository and a directory no repository is in", dirs: []string{"repositories/e"},
			symlinks: map[string]string{"repositories/link": "a"}, listed: 2},
		{name: "a layer link directory a delete left", dirs: []string{filepath.Dir(layerPath("a", digest.FromString("deleted")))}, listed: 1},
		// The link count leaves out a layer link that is a symbolic link:
		// one short of the names.
		{name: "a layer link that is a symbolic link", symlinks: map[string]string{
			filepath.Dir(layerPath("ns/b", digest.FromBytes([]byte("a layer")))): "../../../../a/" + strings.TrimPrefix(layer, "repositories/a/")}, listed: 1},
		{name: "a revision directory a delete left", dirs: []string{filepath.Dir(revisionPath("a", digest.FromString("deleted")))}, listed: 1},
		// A probe looks at tags/, never into it.
		{name: "a tag with history only", dirs: []string{filepath.Dir(tagIndexPath("a", "old", digest.FromString("deleted")))}, listed: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeTree(t, dir, s)
			for _, d := range tt.dirs {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("notes"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for link, target := range tt.symlinks {
				if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
					t.Fatal(err)
				}
			}
			st := walker.NewDirStorage(dir)
			base := baseline(t, st)
			time.Sleep(clockLag)
			base.Since = time.Now()
			r, err := walker.NewRescan(context.Background(), st, base, walker.Options{})
			if err != nil {
				t.Fatalf("NewRescan() error = %v", err)
			}
			if len(r.Changed) > 0 {
				t.Errorf("NewRescan() Changed = %v, want none", r.Changed)
			}
			if r.DirsListed != tt.listed {
				t.Errorf("NewRescan() DirsListed = %d, want %d", r.DirsListed, tt.listed)
			}
		})
	}
}

// countsSubdirs skips the test unless the temporary directory's file
// system and this system give a directory a link count of 2 plus its
// subdirectories, which NewRescan relies on to not list directories.
func countsSubdirs(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Stat_t.Nlink, whose type differs between systems.
	if runtime.GOOS != "linux" || reflect.ValueOf(fi.Sys()).Elem().FieldByName("Nlink").Uint() != 3 {
		t.Skip("link counts do not count subdirectories here: NewRescan lists every directory")
	}
}

func digests(ds []digest.Digest) []string {
	var out []string
	for _, d := range ds {
		out = append(out, string(d))
	}
	slices.Sort(out)
	return out
}

// TestRescanReadsAsWalk checks that what a Rescan reads of the repositories
// and manifests it is told to read is what a Walk reads of them.
func TestRescanReadsAsWalk(t *testing.T) {
	t.Parallel()
	st := newRescanTree().write(t)
	base := baseline(t, st)
	base.Since = time.Now().Add(time.Hour) // nothing changed
	full := newRecorder()
	if _, err := walker.Walk(context.Background(), st, full, walker.Options{}); err != nil {
		t.Fatal(err)
	}
	r, err := walker.NewRescan(context.Background(), st, base, walker.Options{})
	if err != nil {
		t.Fatalf("NewRescan() error = %v", err)
	}
	var names []string
	for _, repo := range full.repos {
		names = append(names, repo.Name)
	}
	got := newRecorder()
	if _, err := r.WalkRepos(context.Background(), names, got); err != nil {
		t.Fatalf("WalkRepos() error = %v", err)
	}
	var ds []digest.Digest
	for _, m := range full.manifests {
		ds = append(ds, m.Digest)
	}
	if _, err := r.ReadManifests(context.Background(), ds, got); err != nil {
		t.Fatalf("ReadManifests() error = %v", err)
	}
	for _, v := range got.violations {
		t.Errorf("sink contract: %s", v)
	}
	got.sort()
	full.sort()
	full.blobs = nil // a Rescan reports only new blobs
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"repositories", got.repos, full.repos},
		{"tags", got.tags, full.tags},
		{"tag history", got.history, full.history},
		{"revisions", got.revisions, full.revisions},
		{"layer links", got.layerLinks, full.layerLinks},
		{"uploads", got.uploads, full.uploads},
		{"blobs", got.blobs, full.blobs},
		{"manifests", got.manifests, full.manifests},
		{"problems", got.problems, full.problems},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("Rescan read %s\n%+v\nwant what Walk reads\n%+v", c.what, c.got, c.want)
		}
	}
}

// TestRescanCannot checks the cases where only a full walk tells what is
// there.
func TestRescanCannot(t *testing.T) {
	t.Parallel()
	st := newRescanTree().write(t)
	base := baseline(t, st)
	if _, err := walker.NewRescan(context.Background(), st, base, walker.Options{Verify: true}); !errors.Is(err, walker.ErrCannotRescan) {
		t.Errorf("NewRescan(Verify) error = %v, want %v", err, walker.ErrCannotRescan)
	}
}
