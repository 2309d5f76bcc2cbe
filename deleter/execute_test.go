package deleter

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regsql/regsql/gc"
	"github.com/regsql/regsql/internal/journal"
	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/queries"
	"github.com/regsql/regsql/walker"
)

// TestNothingKeptIsLost runs a realistic plan through the API, then a
// garbage collection with no grace period, and then pulls every tag that
// stays: every manifest, child, config and layer must download and verify.
// Every deleted tag must be gone, and the GC must free what the plan said.
// On the filesystem and on S3.
func TestNothingKeptIsLost(t *testing.T) {
	registrytest.ForEachBackend(t, testNothingKeptIsLost)
}

func testNothingKeptIsLost(t *testing.T, backend registrytest.Backend) {
	ctx := context.Background()
	reg, v := variedRegistryOn(t, backend)
	before := allTags(t, reg)

	p := planFor(t, reg, v.cands, v.opts)
	gotRefused := map[string]Reason{}
	for _, r := range p.Refused {
		gotRefused[candString(r.Candidate)] = r.Reason
	}
	if !maps.Equal(gotRefused, v.refused) {
		t.Errorf("refused = %v, want %v", gotRefused, v.refused)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("warnings = %+v, want none", p.Warnings)
	}

	j, jpath := newJournal(t, "run-1")
	sum, err := p.Execute(ctx, fastAPI(t, reg.URL), j, ExecOptions{Target: reg.URL})
	if err != nil {
		t.Fatalf("Execute() error = %v (%+v)", err, sum)
	}
	if sum.Deleted != len(p.Actions) || sum.Failed != 0 || sum.Refused != len(v.refused) || sum.Bytes != p.Bytes || !sum.BytesKnown {
		t.Errorf("Execute() = %+v, want %d deleted, %d refused, %d bytes", sum, len(p.Actions), len(v.refused), p.Bytes)
	}
	checkJournalMatches(t, readJournal(t, jpath), reg, p)

	// The registry's GC, in regsql's implementation, with no grace.
	st := openStorage(t, reg)
	gp, err := gc.NewPlan(ctx, st, gc.Options{})
	if err != nil {
		t.Fatalf("gc.NewPlan() error = %v", err)
	}
	var freed int64
	for _, tot := range gp.Totals() {
		if tot.Kind == gc.KindBlob {
			freed = tot.Bytes
		}
	}
	if freed != p.Bytes {
		t.Errorf("gc frees %d bytes, the plan said %d", freed, p.Bytes)
	}
	if _, err := gp.Execute(ctx, st, nil); err != nil {
		t.Fatalf("gc Execute() error = %v", err)
	}

	after := allTags(t, reg)
	var want []string
	for _, tag := range before {
		if !slices.Contains(v.gone, tag) {
			want = append(want, tag)
		}
	}
	if !slices.Equal(after, want) {
		t.Errorf("tags after = %v, want %v", after, want)
	}
	for _, tag := range v.gone {
		repo, name := splitRef(tag)
		if exists(t, reg, repo, name) {
			t.Errorf("%s is still served after its deletion", tag)
		}
	}
	for _, tag := range after {
		repo, name := splitRef(tag)
		if _, err := reg.Pull(repo, name); err != nil {
			t.Errorf("pull %s after delete and gc: %v", tag, err)
		}
	}
}

// checkJournalMatches checks that each action the journal says is done is
// gone from the registry, and that every planned action ended one way or
// another.
func checkJournalMatches(t *testing.T, entries []journal.Entry, reg *registrytest.Registry, p *Plan) {
	t.Helper()
	done := journal.DoneKeys(entries)
	planned := map[string]bool{}
	ended := map[string]bool{}
	for _, e := range entries {
		switch e.State {
		case journal.Planned:
			planned[e.Key()] = true
		default:
			ended[e.Key()] = true
		}
	}
	for _, a := range p.Actions {
		if !planned[a.Key()] || !ended[a.Key()] {
			t.Errorf("journal: %s planned %v, ended %v; want both", a.Key(), planned[a.Key()], ended[a.Key()])
		}
		ref := a.Tag
		if a.Kind == DeleteManifest {
			ref = a.Digest.String()
		}
		if gone := !exists(t, reg, a.Repo, ref); gone != done[a.Key()] {
			t.Errorf("journal says %s done = %v, registry says gone = %v", a.Key(), done[a.Key()], gone)
		}
		for _, tag := range a.Tags {
			if done[a.Key()] && exists(t, reg, a.Repo, tag) {
				t.Errorf("%s is done but its tag %s:%s is still served", a.Key(), a.Repo, tag)
			}
		}
	}
}

// TestStorageMatchesAPI executes the same plan on two identical registries,
// one through the API and one on storage (on the filesystem, or on S3
// through the s3 driver), and compares the trees.
func TestStorageMatchesAPI(t *testing.T) {
	registrytest.ForEachBackend(t, testStorageMatchesAPI)
}

func testStorageMatchesAPI(t *testing.T, backend registrytest.Backend) {
	ctx := context.Background()
	api, v := variedRegistry(t)
	sto, _ := variedRegistryOn(t, backend)
	if d := diffTrees(tree(t, api.Root()), storageTree(t, sto)); len(d) > 0 {
		t.Fatalf("the two registries differ before the test:\n%s", strings.Join(d, "\n"))
	}

	pa, ps := planFor(t, api, v.cands, v.opts), planFor(t, sto, v.cands, v.opts)
	if !slices.Equal(keys(pa), keys(ps)) {
		t.Fatalf("the plans differ:\n%v\n%v", keys(pa), keys(ps))
	}
	ja, _ := newJournal(t, "api")
	if _, err := pa.Execute(ctx, fastAPI(t, api.URL), ja, ExecOptions{}); err != nil {
		t.Fatalf("API Execute() error = %v", err)
	}
	js, _ := newJournal(t, "storage")
	if _, err := ps.Execute(ctx, storageExec(t, sto), js, ExecOptions{}); err != nil {
		t.Fatalf("storage Execute() error = %v", err)
	}
	if d := diffTrees(tree(t, api.Root()), storageTree(t, sto)); len(d) > 0 {
		t.Errorf("API and storage executors left different trees:\n%s", strings.Join(d, "\n"))
	}
	if got, want := allTags(t, sto), allTags(t, api); !slices.Equal(got, want) {
		t.Errorf("tags after the storage run = %v, after the API run %v", got, want)
	}
}

func TestExecuteOnceAndDryRun(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	push(t, reg, "app", img(1), "v1")
	push(t, reg, "app", img(2), "v2")
	before := tree(t, reg.Root())
	p := planFor(t, reg, []queries.Candidate{tagRow("app", "v1")}, PlanOptions{})

	sum, err := p.Execute(ctx, nil, nil, ExecOptions{DryRun: true})
	if err != nil || !sum.DryRun || sum.Actions != 1 || sum.Deleted != 0 || sum.Bytes != p.Bytes {
		t.Errorf("dry run = %+v, %v; want 1 action, nothing deleted, the plan's bytes", sum, err)
	}
	if d := diffTrees(before, tree(t, reg.Root())); len(d) > 0 {
		t.Errorf("a dry run changed the storage: %v", d)
	}
	j, _ := newJournal(t, "again")
	if _, err := p.Execute(ctx, fastAPI(t, reg.URL), j, ExecOptions{}); !errors.Is(err, ErrExecuted) {
		t.Errorf("Execute() after a dry run error = %v, want ErrExecuted", err)
	}
	if !exists(t, reg, "app", "v1") {
		t.Error("app:v1 was deleted by a plan already executed")
	}
}

func TestExecuteRefusesEmptyPlans(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	push(t, reg, "app", img(1), "v1")
	push(t, reg, "other", img(2), "v1", "latest")

	tests := []struct {
		name    string
		cands   []queries.Candidate
		allow   bool
		wantErr error
		gone    bool
	}{
		{name: "nothing to delete", cands: []queries.Candidate{tagRow("other", "latest")}, wantErr: ErrEmptyPlan},
		{name: "nothing to delete, allowed", cands: []queries.Candidate{tagRow("other", "latest")}, allow: true},
		{name: "empties a repository", cands: []queries.Candidate{tagRow("app", "v1")}, wantErr: ErrEmptiesRepos},
		{name: "empties a repository, allowed", cands: []queries.Candidate{tagRow("app", "v1")}, allow: true, gone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planFor(t, reg, tt.cands, PlanOptions{Protect: []string{DefaultProtect}})
			j, _ := newJournal(t, "run")
			_, err := p.Execute(ctx, fastAPI(t, reg.URL), j, ExecOptions{AllowEmpty: tt.allow})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Execute() error = %v, want %v", err, tt.wantErr)
			}
			if got := !exists(t, reg, "app", "v1"); got != tt.gone {
				t.Errorf("app:v1 gone = %v, want %v", got, tt.gone)
			}
		})
	}
}

// TestExecutorsRefuseWhatChanged plans, then pushes, then executes: a tag
// that moved and a tag pushed onto a manifest the plan deletes must stay.
func TestExecutorsRefuseWhatChanged(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"api", "storage"} {
		t.Run(name, func(t *testing.T) {
			reg := registrytest.Start(t)
			push(t, reg, "app", img(1), "v1", "v1.0")
			push(t, reg, "app", img(2), "v2")
			push(t, reg, "app", img(9), "keep")
			p := planFor(t, reg, []queries.Candidate{tagRow("app", "v1"), tagRow("app", "v2")}, PlanOptions{})
			// Since the plan: v1 names another image, and v2's image got a
			// new tag.
			push(t, reg, "app", img(3), "v1")
			push(t, reg, "app", img(2), "v2-again")

			var ex Executor = fastAPI(t, reg.URL)
			if name == "storage" {
				ex = storageExec(t, reg)
			}
			j, _ := newJournal(t, name)
			sum, err := p.Execute(ctx, ex, j, ExecOptions{})
			if err != nil {
				t.Fatalf("Execute() error = %v", err)
			}
			got := map[string]Reason{}
			for _, r := range sum.Results {
				got[r.Action.Key()] = r.Reason
			}
			want := map[string]Reason{tagKey("app", "v1"): ReasonStale, manifestKey("app", img(2).Digest()): ""}
			if name == "storage" {
				// Storage sees the new tag; the API cannot without listing.
				want[manifestKey("app", img(2).Digest())] = ReasonStale
			}
			if !maps.Equal(got, want) {
				t.Errorf("results = %v, want %v", got, want)
			}
			if d, err := reg.HeadManifest("app", "v1"); err != nil || d != img(3).Digest() {
				t.Errorf("app:v1 = %s, %v; want the new image %s", d, err, img(3).Digest())
			}
			if name == "storage" && !exists(t, reg, "app", "v2-again") {
				t.Error("the storage executor deleted a tag pushed after the plan")
			}
		})
	}
}

func TestStoragePrepare(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	push(t, reg, "app", img(1), "v1")
	st, err := walker.OpenRoot(reg.Root())
	if err != nil {
		t.Fatal(err)
	}
	if err := NewStorageExecutor(st, StorageOptions{UploadGrace: time.Hour}).Prepare(ctx); !errors.Is(err, ErrNotConfirmed) {
		t.Errorf("Prepare() without confirmation error = %v, want ErrNotConfirmed", err)
	}
	if err := NewStorageExecutor(st, StorageOptions{RegistryStopped: true, UploadGrace: time.Hour}).Prepare(ctx); err != nil {
		t.Errorf("Prepare() with no upload error = %v", err)
	}
	if _, err := reg.StartUpload("org/app/sub", []byte("half a layer")); err != nil {
		t.Fatal(err)
	}
	err = NewStorageExecutor(st, StorageOptions{RegistryStopped: true, UploadGrace: time.Hour}).Prepare(ctx)
	if !errors.Is(err, ErrRegistryLive) || !strings.Contains(err.Error(), "org/app/sub") {
		t.Errorf("Prepare() with an upload in flight error = %v, want ErrRegistryLive naming org/app/sub", err)
	}
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	if err := NewStorageExecutor(st, StorageOptions{RegistryStopped: true, UploadGrace: time.Hour, Now: later}).Prepare(ctx); err != nil {
		t.Errorf("Prepare() after the grace period error = %v", err)
	}
	if err := NewStorageExecutor(st, StorageOptions{RegistryStopped: true}).Prepare(ctx); err != nil {
		t.Errorf("Prepare() with the check off error = %v", err)
	}
}
