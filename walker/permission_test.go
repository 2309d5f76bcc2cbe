//go:build linux

package walker_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/walker"
)

// unprivilegedEnv marks the copy of the test binary that runs as nobody.
const unprivilegedEnv = "REGSQL_WALKER_TEST_UNPRIVILEGED"

// nobody is the uid and gid the tests drop to when run as root, where
// chmod denies nothing.
const nobody = 65534

// asUnprivileged runs the calling test again as nobody when the test
// process is root, and reports whether it did (the caller then returns).
// The test must really see permission denied, so it never skips.
func asUnprivileged(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return false
	}
	if os.Getenv(unprivilegedEnv) != "" {
		t.Fatalf("still root after dropping to uid %d", nobody)
	}
	// The go test binary lives in a directory only root can enter: run a
	// copy from a directory nobody can, with a TMPDIR it can write.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "walker.test")
	copyFile(t, os.Args[0], bin, 0o755)
	tmp := filepath.Join(dir, "tmp")
	mkdirAll(t, tmp)
	if err := os.Chown(tmp, nobody, nobody); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Dir = tmp
	cmd.Env = []string{unprivilegedEnv + "=1", "TMPDIR=" + tmp, "HOME=" + tmp, "PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	t.Logf("as uid %d:\n%s", nobody, out)
	if err != nil {
		t.Fatalf("run %s as uid %d: %v", t.Name(), nobody, err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not pass as uid %d", t.Name(), nobody)
	}
	return true
}

func copyFile(t *testing.T, from, to string, mode fs.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// deny makes path unreadable for the rest of the test and checks that it
// really is.
func deny(t *testing.T, path string) { denyMode(t, path, 0) }

// denyMode sets mode on path for the rest of the test and checks that the
// path can no longer be read (listed, for a directory).
func denyMode(t *testing.T, path string, mode fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(path, fi.Mode().Perm()) })
	if fi.IsDir() {
		_, err = os.ReadDir(path)
	} else {
		_, err = os.ReadFile(path)
	}
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("reading %s after chmod %o: error = %v, want permission denied", path, mode, err)
	}
}

func TestWalkPermissionDenied(t *testing.T) {
	if asUnprivileged(t) {
		return
	}
	tree := build("healthy")
	root := t.TempDir()
	v2dir := filepath.Join(root, v2)
	writeTree(t, v2dir, tree)
	tagsDir := "repositories/org/app/_manifests/tags"
	var layerLink string
	for p := range tree {
		if strings.HasPrefix(p, "repositories/library/alpine/_layers/") && (layerLink == "" || p < layerLink) {
			layerLink = p
		}
	}
	deny(t, filepath.Join(v2dir, tagsDir))
	deny(t, filepath.Join(v2dir, layerLink))
	want := []problemKey{{walker.ProblemUnreadable, layerLink}, {walker.ProblemUnreadable, tagsDir}}
	slices.SortFunc(want, func(a, b problemKey) int { return strings.Compare(a.Path, b.Path) })

	drv, err := factory.Create(context.Background(), "filesystem", map[string]any{"rootdirectory": root})
	if err != nil {
		t.Fatal(err)
	}
	storages := []struct {
		name string
		st   walker.Storage
	}{
		{name: "dir", st: walker.NewDirStorage(v2dir)},
		{name: "driver", st: walker.NewDriverStorage(drv, walker.DriverOptions{})},
	}
	for _, s := range storages {
		t.Run(s.name, func(t *testing.T) {
			rec, _ := walk(t, s.st)
			if got := problemKeys(rec.problems); !slices.Equal(got, want) {
				t.Errorf("problems = %+v, want %+v\nmessages: %v", got, want, messages(rec.problems))
			}
			for _, p := range rec.problems {
				if !strings.Contains(p.Message, "permission denied") {
					t.Errorf("problem message %q, want it to say permission denied", p.Message)
				}
			}
			// The rest of the registry is still indexed.
			if len(rec.repos) != 2 || len(rec.manifests) != 6 || len(rec.tags) != 2 {
				t.Errorf("repos, manifests, tags = %d, %d, %d, want 2, 6, 2", len(rec.repos), len(rec.manifests), len(rec.tags))
			}
		})
	}
}

func TestWalkUnreadableStorage(t *testing.T) {
	if asUnprivileged(t) {
		return
	}
	tests := []struct {
		name       string
		deny       []string
		searchOnly string
		wantErr    error
		want       []problemKey
	}{
		{name: "repositories only", deny: []string{"repositories"}, want: []problemKey{{walker.ProblemUnreadable, "repositories"}}},
		{name: "blobs only", deny: []string{"blobs"}, want: []problemKey{{walker.ProblemUnreadable, "blobs"}}},
		{name: "both", deny: []string{"repositories", "blobs"}, wantErr: walker.ErrUnreadableStorage},
		// A blob directory that cannot be listed but can be searched: its
		// blobs are not enumerated, yet links to them are not dangling and
		// the manifests in it are still read.
		{name: "blob prefix not listable", searchOnly: "<manifest prefix>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v2dir := filepath.Join(t.TempDir(), v2)
			writeTree(t, v2dir, build("nested-repos"))

			tree := build("nested-repos")
			for _, d := range tt.deny {
				deny(t, filepath.Join(v2dir, d))
			}
			wantManifests := 2
			if tt.searchOnly != "" {
				// The directory of the manifest of org/app:v1.
				d := digest.Digest(tree[tagCurrentPath("org/app", "v1")])
				prefix := filepath.Dir(filepath.Dir(blobPath(d)))
				denyMode(t, filepath.Join(v2dir, prefix), 0o111)
				tt.want = []problemKey{{walker.ProblemUnreadable, prefix}}
			}
			if len(tt.deny) > 0 {
				wantManifests = 0
			}
			rec := newRecorder()
			_, err := walker.Walk(context.Background(), walker.NewDirStorage(v2dir), rec, walker.Options{})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Walk() error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			// Nothing else is reported: in particular no link looks
			// dangling because blobs/ could not be read.
			if got := problemKeys(rec.problems); !slices.Equal(got, tt.want) {
				t.Errorf("problems = %+v, want %+v\nmessages: %v", got, tt.want, messages(rec.problems))
			}
			if len(rec.manifests) != wantManifests {
				t.Errorf("manifests = %d, want %d", len(rec.manifests), wantManifests)
			}
		})
	}
}
