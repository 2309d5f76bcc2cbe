package gc

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/internal/registrygc"
	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/walker"
)

// faultFixture is a registry with garbage in every mode and a repository,
// broken, that a test damages.
type faultFixture struct {
	reg       *registrytest.Registry
	orphan    digest.Digest          // an unreferenced blob in app: swept in every mode
	untagged  *registrytest.Manifest // untagged in app: swept with DeleteUntagged
	broken    *registrytest.Manifest // broken:v1
	brokenOld *registrytest.Manifest // untagged in broken
}

func newFaultFixture(t *testing.T) faultFixture {
	t.Helper()
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	f := faultFixture{reg: reg, untagged: image(2), broken: image(4), brokenOld: image(5)}
	s.Push("app", "v1", image(1))
	s.Push("app", "", f.untagged)
	f.orphan = s.PushBlob("app", registrytest.Layer(3, 200))
	s.Push("broken", "v1", f.broken)
	s.Push("broken", "", f.brokenOld)
	return f
}

// faultyStorage fails the reads fail picks with a permission error, as an
// unreadable file or directory does.
type faultyStorage struct {
	walker.Storage
	fail func(p string) bool
}

func (s faultyStorage) List(ctx context.Context, dir string) ([]walker.Entry, error) {
	if s.fail(dir) {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: fs.ErrPermission}
	}
	return s.Storage.List(ctx, dir)
}

func (s faultyStorage) ReadFile(ctx context.Context, p string) ([]byte, error) {
	if s.fail(p) {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrPermission}
	}
	return s.Storage.ReadFile(ctx, p)
}

// schema1 is a schemaVersion 1 manifest naming layer.
func schema1(layer digest.Digest) []byte {
	return fmt.Appendf(nil, `{"schemaVersion":1,"name":"broken","tag":"s1","architecture":"amd64","fsLayers":[{"blobSum":%q}],"history":[{"v1Compatibility":"{}"}]}`, layer)
}

// writeBlob stores data as a blob directly, as a registry v2.x did.
func writeBlob(t *testing.T, reg *registrytest.Registry, data []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(data)
	dir := v2(reg, walker.BlobDir(d))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/data", data, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// writeLink writes the link file in a link directory, rel below
// docker/registry/v2.
func writeLink(t *testing.T, reg *registrytest.Registry, dir, content string) {
	t.Helper()
	if err := os.MkdirAll(v2(reg, dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(reg, path.Join(dir, "link"), content); err != nil {
		t.Fatal(err)
	}
}

// TestBadFiles damages the storage in one way at a time and checks that
// planning never fails, reports the damage, holds what it cannot judge and
// still sweeps the garbage elsewhere; the registry's own GC, for contrast,
// aborts on most of these.
func TestBadFiles(t *testing.T) {
	tests := []struct {
		name     string
		damage   func(t *testing.T, f faultFixture)
		storage  func(st walker.Storage) walker.Storage // fault injection below the walk; nil for none
		problems []walker.ProblemKind
		// held says in which modes broken is held: "always",
		// "untagged" (with DeleteUntagged only) or "" (never).
		held       string
		incomplete bool
		// registryAborts says in which modes MarkAndSweep fails: "always",
		// "default" or "untagged" (only in that mode), "" (never), or "-"
		// when the damage is only seen through the fault injection.
		registryAborts string
	}{
		{
			name: "revision link with a trailing newline",
			damage: func(t *testing.T, f faultFixture) {
				writeLink(t, f.reg, walker.RevisionDir("broken", f.broken.Digest()), f.broken.Digest().String()+"\n")
			},
			problems:       []walker.ProblemKind{walker.ProblemBadLink},
			held:           "always",
			registryAborts: "always",
		},
		{
			name: "truncated manifest",
			damage: func(t *testing.T, f faultFixture) {
				p := v2(f.reg, path.Join(walker.BlobDir(f.broken.Digest()), "data"))
				if err := os.WriteFile(p, f.broken.Body[:len(f.broken.Body)/2], 0o644); err != nil {
					t.Fatal(err)
				}
			},
			problems:       []walker.ProblemKind{walker.ProblemManifestInvalid},
			held:           "always",
			registryAborts: "always",
		},
		{
			name: "schema1 manifest left by registry v2",
			damage: func(t *testing.T, f faultFixture) {
				layer := f.reg.Steps(t).PushBlob("broken", registrytest.Layer(9, 100))
				d := writeBlob(t, f.reg, schema1(layer))
				writeLink(t, f.reg, walker.RevisionDir("broken", d), d.String())
			},
			problems: []walker.ProblemKind{walker.ProblemManifestSchema1},
			held:     "always",
			// Untagged, it is deleted unread with --delete-untagged.
			registryAborts: "default",
		},
		{
			name: "tag link that is not a digest",
			damage: func(t *testing.T, f faultFixture) {
				if err := writeFile(f.reg, walker.TagCurrentLink("broken", "v1"), "latest"); err != nil {
					t.Fatal(err)
				}
			},
			problems:       []walker.ProblemKind{walker.ProblemBadLink},
			held:           "untagged",
			registryAborts: "untagged",
		},
		{
			name: "layer link that is not a digest",
			damage: func(t *testing.T, f faultFixture) {
				writeLink(t, f.reg, walker.LayerLinkDir("broken", f.broken.Digest()), "sha256:0")
			},
			problems:       []walker.ProblemKind{walker.ProblemBadLink},
			registryAborts: "always",
		},
		{
			name: "repository without _layers",
			damage: func(t *testing.T, f faultFixture) {
				if err := os.RemoveAll(v2(f.reg, "repositories/broken/_layers")); err != nil {
					t.Fatal(err)
				}
			},
			registryAborts: "always",
		},
		{
			name: "manifest blob missing",
			damage: func(t *testing.T, f faultFixture) {
				if err := os.RemoveAll(v2(f.reg, walker.BlobDir(f.brokenOld.Digest()))); err != nil {
					t.Fatal(err)
				}
			},
			problems: []walker.ProblemKind{walker.ProblemMissingBlob},
		},
		{
			name: "unreadable manifest blob",
			storage: func(st walker.Storage) walker.Storage {
				return faultyStorage{st, func(p string) bool { return p == path.Join(walker.BlobDir(image(4).Digest()), "data") }}
			},
			problems:       []walker.ProblemKind{walker.ProblemUnreadable},
			held:           "always",
			registryAborts: "-",
		},
		{
			name: "unreadable revision link",
			storage: func(st walker.Storage) walker.Storage {
				return faultyStorage{st, func(p string) bool {
					return p == path.Join(walker.RevisionDir("broken", image(4).Digest()), "link")
				}}
			},
			problems:       []walker.ProblemKind{walker.ProblemUnreadable},
			held:           "always",
			registryAborts: "-",
		},
		{
			name: "unreadable revisions directory",
			storage: func(st walker.Storage) walker.Storage {
				return faultyStorage{st, func(p string) bool { return p == "repositories/broken/_manifests/revisions" }}
			},
			problems:       []walker.ProblemKind{walker.ProblemUnreadable},
			held:           "always",
			incomplete:     true,
			registryAborts: "-",
		},
		{
			name: "unreadable repository directory",
			storage: func(st walker.Storage) walker.Storage {
				return faultyStorage{st, func(p string) bool { return p == "repositories/broken" }}
			},
			problems:       []walker.ProblemKind{walker.ProblemUnreadable},
			incomplete:     true,
			registryAborts: "-",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFaultFixture(t)
			if tt.damage != nil {
				tt.damage(t, f)
			}
			ageAll(t, f.reg, 48*time.Hour)
			for _, untagged := range []bool{false, true} {
				t.Run(fmt.Sprintf("DeleteUntagged=%v", untagged), func(t *testing.T) {
					var st walker.Storage = openStorage(t, f.reg)
					if tt.storage != nil {
						st = tt.storage(st)
					}
					p, err := NewPlan(context.Background(), st, Options{DeleteUntagged: untagged, Grace: time.Hour})
					if err != nil {
						t.Fatalf("NewPlan() error = %v, want a plan", err)
					}
					checkFaultPlan(t, f, p, untagged, tt.problems, tt.held == "always" || (untagged && tt.held == "untagged"), tt.incomplete)

					if tt.registryAborts == "-" {
						return
					}
					_, err = registrygc.DryRun(context.Background(), f.reg.Driver(), untagged)
					if want := tt.registryAborts == "always" || (untagged && tt.registryAborts == "untagged") || (!untagged && tt.registryAborts == "default"); (err != nil) != want {
						t.Errorf("MarkAndSweep error = %v, want an abort: %v", err, want)
					}
				})
			}
		})
	}
}

func checkFaultPlan(t *testing.T, f faultFixture, p *Plan, untagged bool, problems []walker.ProblemKind, held, incomplete bool) {
	t.Helper()
	var kinds []walker.ProblemKind
	for _, pr := range p.Problems {
		kinds = append(kinds, pr.Kind)
	}
	for _, k := range problems {
		if !slices.Contains(kinds, k) {
			t.Errorf("problems %v, want one of kind %s", p.Problems, k)
		}
	}
	gotHeld := slices.ContainsFunc(p.Held, func(h Held) bool { return h.Repo == "broken" })
	if gotHeld != held {
		t.Errorf("broken held = %v, want %v (held: %v)", gotHeld, held, p.Held)
	}
	if got := p.MarkIncomplete != ""; got != incomplete {
		t.Errorf("MarkIncomplete = %q, want incomplete %v", p.MarkIncomplete, incomplete)
	}

	blobs := items(p, KindBlob)
	swept := func(d digest.Digest) bool { return slices.Contains(blobs, d.String()) }
	if incomplete {
		if n := len(p.Items); n > 0 {
			t.Errorf("mark incomplete, but the plan sweeps %v", p.Items)
		}
		return
	}
	if !swept(f.orphan) {
		t.Errorf("the orphan blob %s elsewhere is not swept: %v", f.orphan, blobs)
	}
	if untagged && !swept(f.untagged.Digest()) {
		t.Errorf("the untagged manifest %s elsewhere is not swept: %v", f.untagged.Digest(), blobs)
	}
	for _, d := range blobsOf(f.broken) {
		if swept(d) {
			t.Errorf("blob %s of broken:v1 is swept", d)
		}
	}
	if held {
		for _, d := range blobsOf(f.brokenOld) {
			if swept(d) {
				t.Errorf("blob %s of broken's untagged manifest is swept though broken is held", d)
			}
		}
		for _, it := range p.Items {
			if it.Repo == "broken" {
				t.Errorf("broken is held, but the plan removes %s %s", it.Kind, it.Path)
			}
		}
	}
	for _, h := range p.Held {
		if !strings.Contains(h.Reason, " ") {
			t.Errorf("held %s for %q: want a reason a person can read", h.Repo, h.Reason)
		}
	}
}
