package gc

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/internal/journal"
	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/walker"
)

// execute executes p on the registry's storage with a journal in
// t.TempDir() and returns the summary and the journal's entries.
func execute(t *testing.T, p *Plan, rm walker.Remover) (Summary, []journal.Entry) {
	t.Helper()
	jp := filepath.Join(t.TempDir(), "gc.jsonl")
	j, err := journal.Create(jp, "test-run")
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Execute(context.Background(), rm, j)
	if err != nil {
		t.Fatalf("Execute() error = %v", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := journal.ReadFile(jp)
	if err != nil {
		t.Fatal(err)
	}
	return s, entries
}

// checkJournal checks that every item of p was journaled as planned and
// then done, each in the plan's order, and never done before planned.
func checkJournal(t *testing.T, p *Plan, entries []journal.Entry) {
	t.Helper()
	var want []string
	for _, it := range p.Items {
		want = append(want, it.Kind.Action()+" "+it.Path)
	}
	got := map[journal.State][]string{}
	planned := map[string]bool{}
	for _, e := range entries {
		got[e.State] = append(got[e.State], e.Key())
		switch e.State {
		case journal.Planned:
			planned[e.Key()] = true
		case journal.Done:
			if !planned[e.Key()] {
				t.Errorf("journal: %s done before it was planned", e.Key())
			}
		}
	}
	for _, state := range []journal.State{journal.Planned, journal.Done} {
		if !slices.Equal(got[state], want) {
			t.Errorf("journal %s = %q,\nwant %q", state, got[state], want)
		}
	}
	if len(entries) != 2*len(want) {
		t.Errorf("journal has %d entries, want %d", len(entries), 2*len(want))
	}
}

// testExecute runs a real garbage collection on a copy of orig's storage:
// afterwards every tag and every revision left that pulled before still
// pulls with every blob verified, a new plan finds nothing to sweep, and
// the registry's own MarkAndSweep finds nothing to delete but what regsql
// keeps on purpose.
func testExecute(t *testing.T, orig *registrytest.Registry, opts Options, removeUntagged bool, reasons []Reason, marked []digest.Digest) {
	reg := orig.Copy(t)
	before := pulls(t, reg)
	p := plan(t, reg, opts)
	s, entries := execute(t, p, openStorage(t, reg))
	checkJournal(t, p, entries)
	if got, want := s.Removed, p.Totals(); !slices.Equal(got, want) {
		t.Errorf("Summary.Removed = %v, want the plan's totals %v", got, want)
	}

	after := pulls(t, reg)
	checkPulls(t, before, after)
	t.Logf("removed %v; %d tags and revisions before, %d after", s.Removed, len(before), len(after))

	again := plan(t, reg, opts)
	if len(again.Items) > 0 {
		t.Errorf("a second plan sweeps %v", again.Items)
	}
	checkParity(t, again, registryGC(t, reg, removeUntagged), reasons, marked)
}

// TestExecuteThroughDriver executes through the registry's own storage
// driver, opened from its config.yml, as regsql gc --config does.
func TestExecuteThroughDriver(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	s.Push("app", "v1", image(1))
	s.Push("app", "v2", image(2))
	s.DeleteTag("app", "v2")
	s.StartUpload("app", registrytest.Layer(3, 100))
	ageAll(t, reg, 30*24*time.Hour)

	ds, _, err := walker.OpenConfig(context.Background(), reg.ConfigPath(), walker.DriverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(context.Background(), ds, Options{DeleteUntagged: true, UploadsOlderThan: time.Hour, Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// startedat holds the time the upload began, not its mtime: the
	// upload is fresh and stays.
	wantCounts := map[Kind]int{KindRevision: 1, KindLayerLink: 2, KindBlob: 3, KindUpload: 0}
	for _, tot := range p.Totals() {
		if tot.Count != wantCounts[tot.Kind] {
			t.Errorf("plan has %d %s, want %d: %v", tot.Count, tot.Kind, wantCounts[tot.Kind], p.Items)
		}
	}
	before := pulls(t, reg)
	_, entries := execute(t, p, ds)
	checkJournal(t, p, entries)
	checkPulls(t, before, pulls(t, reg))
	if _, err := reg.Pull("app", image(2).Digest().String()); registrytest.StatusCode(err) != 404 {
		t.Errorf("Pull(app@v2's digest) after gc: %v, want a 404", err)
	}
	if got := registryGC(t, reg, true); len(got.Blobs)+len(got.Manifests) > 0 {
		t.Errorf("MarkAndSweep after gc still deletes %v %v", got.Blobs, got.Manifests)
	}
}

func TestExecuteOnce(t *testing.T) {
	reg := registrytest.Start(t)
	reg.Steps(t).PushBlob("app", registrytest.Layer(1, 100))
	p := plan(t, reg, Options{SweepLayersOnlyRepos: true})
	if _, err := p.Execute(context.Background(), openStorage(t, reg), nil); err != nil {
		t.Fatalf("Execute() error = %v", err)
	}
	if _, err := p.Execute(context.Background(), openStorage(t, reg), nil); !errors.Is(err, ErrExecuted) {
		t.Errorf("second Execute() error = %v, want ErrExecuted", err)
	}
}

// TestExecuteStopsWithoutJournal: nothing is removed unjournaled.
func TestExecuteStopsWithoutJournal(t *testing.T) {
	reg := registrytest.Start(t)
	d := reg.Steps(t).PushBlob("app", registrytest.Layer(1, 100))
	p := plan(t, reg, Options{SweepLayersOnlyRepos: true})
	j, err := journal.Create(filepath.Join(t.TempDir(), "gc.jsonl"), "run")
	if err != nil {
		t.Fatal(err)
	}
	j.Close() // every write now fails
	s, err := p.Execute(context.Background(), openStorage(t, reg), j)
	if err == nil {
		t.Fatal("Execute() with a closed journal succeeded, want an error")
	}
	if n := s.Removed[0].Count + s.Removed[1].Count + s.Removed[2].Count; n != 0 {
		t.Errorf("Execute() removed %v with no journal", s.Removed)
	}
	if _, err := openStorage(t, reg).Stat(context.Background(), path.Join(walker.BlobDir(d), "data")); err != nil {
		t.Errorf("blob %s is gone: %v", d, err)
	}
}

// TestExecuteLooksAgain changes the storage between plan and execute, as
// a push would, and checks that what changed, and what depends on it,
// stays.
func TestExecuteLooksAgain(t *testing.T) {
	tests := []struct {
		name string
		// pick is the kind of item whose file is written again: the
		// plan's first.
		pick Kind
		file string // the file of that item's directory that is written
	}{
		{name: "blob written again", pick: KindBlob, file: "data"},
		{name: "layer link written again keeps its blob", pick: KindLayerLink, file: "link"},
		{name: "revision pushed again keeps every link and blob", pick: KindRevision, file: "link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := registrytest.Start(t)
			s := reg.Steps(t)
			s.Push("app", "v1", image(1))
			s.Push("app", "old", image(2))
			s.Push("app", "older", image(4))
			s.DeleteTag("app", "old")
			s.DeleteTag("app", "older")
			up := s.StartUpload("app", nil)
			ageAll(t, reg, 30*24*time.Hour)
			if err := writeFile(reg, walker.UploadDir("app", up)+"/startedat", time.Now().Add(-30*24*time.Hour).UTC().Format(time.RFC3339)); err != nil {
				t.Fatal(err)
			}
			before := pulls(t, reg)
			p := plan(t, reg, Options{DeleteUntagged: true, UploadsOlderThan: time.Hour})
			changed := firstOf(t, p, tt.pick)
			age(t, reg, path.Join(changed.Path, tt.file), time.Minute)
			sum, entries := execute(t, p, openStorage(t, reg))

			skipped := map[string]bool{}
			for _, e := range entries {
				if e.State == journal.Skipped {
					skipped[e.Action+" "+e.Target] = true
				}
				if e.State == journal.Failed {
					t.Errorf("journal: %s %s failed: %s", e.Action, e.Target, e.Error)
				}
			}
			for _, it := range p.Items {
				stays := it.Path == changed.Path
				switch changed.Kind {
				case KindLayerLink:
					stays = stays || (it.Kind == KindBlob && it.Digest == changed.Digest)
				case KindRevision:
					stays = stays || it.Kind == KindLayerLink || it.Kind == KindBlob
				}
				if got := skipped[it.Kind.Action()+" "+it.Path]; got != stays {
					t.Errorf("%s %s skipped = %v, want %v", it.Kind, it.Path, got, stays)
				}
			}
			if sum.Removed[3].Count != 1 {
				t.Errorf("Summary.Removed = %v, want the old upload removed whatever stays", sum.Removed)
			}
			checkPulls(t, before, pulls(t, reg))
		})
	}
}

// firstOf returns the plan's first item of kind k.
func firstOf(t *testing.T, p *Plan, k Kind) Item {
	t.Helper()
	for _, it := range p.Items {
		if it.Kind == k {
			return it
		}
	}
	t.Fatalf("the plan has no %s: %v", k, p.Items)
	return Item{}
}

func TestExecuteCancelled(t *testing.T) {
	reg := registrytest.Start(t)
	reg.Steps(t).PushBlob("app", registrytest.Layer(1, 100))
	p := plan(t, reg, Options{SweepLayersOnlyRepos: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Execute(ctx, openStorage(t, reg), nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Execute(cancelled) error = %v, want context.Canceled", err)
	}
	if again := plan(t, reg, Options{SweepLayersOnlyRepos: true}); len(again.Items) != len(p.Items) {
		t.Errorf("after a cancelled Execute the plan has %d items, want all %d still there", len(again.Items), len(p.Items))
	}
}

func ExamplePlan_Totals() {
	p := &Plan{Items: []Item{
		{Kind: KindBlob, Bytes: 100},
		{Kind: KindBlob, Bytes: 20},
		{Kind: KindLayerLink},
	}}
	for _, t := range p.Totals() {
		fmt.Println(t.Kind, t.Count, t.Bytes)
	}
	// Output:
	// revision 0 0
	// layer-link 1 0
	// blob 2 120
	// upload 0 0
}

// TestExecuteAlreadyGone: what was removed meanwhile is done, and says so.
func TestExecuteAlreadyGone(t *testing.T) {
	reg := registrytest.Start(t)
	d := reg.Steps(t).PushBlob("app", registrytest.Layer(1, 100))
	ageAll(t, reg, 48*time.Hour)
	p := plan(t, reg, Options{SweepLayersOnlyRepos: true})
	st := openStorage(t, reg)
	if err := st.Remove(context.Background(), walker.BlobDir(d)); err != nil {
		t.Fatal(err)
	}
	s, entries := execute(t, p, st)
	if got := s.Removed[2].Count; got != 1 {
		t.Errorf("blobs removed = %d, want 1", got)
	}
	var details []string
	for _, e := range entries {
		if e.State == journal.Done {
			details = append(details, e.Action+":"+e.Detail)
		}
	}
	if want := []string{"remove-layer-link:", "remove-blob:already gone"}; !slices.Equal(details, want) {
		t.Errorf("journal done entries = %q, want %q", details, want)
	}
}
