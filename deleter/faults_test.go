package deleter

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsql/regsql/internal/journal"
	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/queries"
)

// TestAPIFaults runs the realistic plan through a proxy that answers 500,
// 502, 503 and 429, cuts connections before and after the registry acts,
// and pauses, on a fixed schedule. The run must retry, finish, and leave a
// journal that says what the registry shows; each deletion reaches the
// registry exactly once.
func TestAPIFaults(t *testing.T) {
	reg, v := variedRegistry(t)
	schedule := []fault{status500, passThrough, status429, resetAfter, passThrough, slow, status503, resetBefore, passThrough, status502, passThrough}
	proxy := newFaultProxy(t, reg.URL, func(n int, _ *http.Request) fault { return schedule[n%len(schedule)] })

	p := planFor(t, reg, v.cands, v.opts)
	j, jpath := newJournal(t, "faults")
	// One worker: the schedule meets the requests in a fixed order.
	sum, err := p.Execute(context.Background(), fastAPI(t, proxy.URL), j, ExecOptions{Workers: 1})
	if err != nil {
		t.Fatalf("Execute() error = %v (%+v)", err, sum)
	}
	if sum.Deleted != len(p.Actions) || sum.Failed != 0 || sum.NotRun != 0 {
		t.Errorf("Execute() = %+v, want all %d actions done", sum, len(p.Actions))
	}
	for _, f := range []fault{status500, status502, status503, status429, resetBefore, resetAfter, slow} {
		if proxy.injected[f] == 0 {
			t.Errorf("the schedule never injected %s: the test proves less than it says", f)
		}
	}
	checkJournalMatches(t, readJournal(t, jpath), reg, p)

	// Each action reached the registry once with effect (202); a DELETE
	// cut off after the registry acted is retried and finds it gone (404).
	accepted := map[string]int{}
	for _, c := range proxy.deletes() {
		if c.Status == http.StatusAccepted {
			accepted[c.Path]++
		}
	}
	for _, a := range p.Actions {
		if accepted[a.Key()] != 1 {
			t.Errorf("%s was accepted by the registry %d times, want once", a.Key(), accepted[a.Key()])
		}
	}
	if len(accepted) != len(p.Actions) {
		t.Errorf("the registry accepted %d deletions, the plan has %d", len(accepted), len(p.Actions))
	}
}

// TestAPITagDeleteUnsupported puts a proxy that answers a tag DELETE as a
// registry v2.x does (400 DIGEST_INVALID) in front of the registry: the
// tag-only deletion is refused, nothing else is written (no throwaway
// manifest), and the manifest deletion still happens.
func TestAPITagDeleteUnsupported(t *testing.T) {
	reg := registrytest.Start(t)
	v1, v2 := img(1), img(2)
	push(t, reg, "app", v1, "v1", "v1.0")
	push(t, reg, "app", v2, "v2")
	push(t, reg, "app", img(3), "v3")
	proxy := newFaultProxy(t, reg.URL, nil)
	proxy.decide = func(_ int, r *http.Request) fault { return passThrough }
	v2x := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/manifests/") && !strings.Contains(r.URL.Path, "sha256:") {
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	front := startHandler(t, v2x(proxy))

	p := planFor(t, reg, []queries.Candidate{tagRow("app", "v1"), tagRow("app", "v2")}, PlanOptions{})
	if want := []string{tagKey("app", "v1"), manifestKey("app", v2.Digest())}; !slices.Equal(keys(p), want) {
		t.Fatalf("plan = %v, want %v", keys(p), want)
	}
	j, jpath := newJournal(t, "v2x")
	sum, err := p.Execute(context.Background(), fastAPI(t, front), j, ExecOptions{})
	if err != nil {
		t.Fatalf("Execute() error = %v", err)
	}
	if sum.Deleted != 1 || sum.Refused != 1 || sum.Results[0].Reason != ReasonTagDeleteUnsupported {
		t.Errorf("Execute() = %+v, want v2 deleted and v1 refused as %s", sum, ReasonTagDeleteUnsupported)
	}
	if !exists(t, reg, "app", "v1") || !exists(t, reg, "app", "v1.0") || exists(t, reg, "app", "v2") {
		t.Error("want app:v1 and app:v1.0 kept, app:v2 gone")
	}
	if n := proxy.writes(); n != 0 {
		t.Errorf("the registry received %d PUT/POST/PATCH requests, want none", n)
	}
	var skipped bool
	for _, e := range readJournal(t, jpath) {
		if e.Key() == tagKey("app", "v1") && e.State == journal.Skipped && strings.Contains(e.Error, string(ReasonTagDeleteUnsupported)) {
			skipped = true
		}
	}
	if !skipped {
		t.Error("the journal does not record the refusal of app:v1")
	}
}

// TestParentFailureStopsChildren makes every DELETE of an index fail: its
// children must not be attempted, since the index still lists them.
func TestParentFailureStopsChildren(t *testing.T) {
	reg := registrytest.Start(t)
	amd, arm := arch(10, "amd64"), arch(11, "arm64")
	multi := registrytest.Index(amd, arm)
	push(t, reg, "app", multi, "multi")
	push(t, reg, "app", img(1), "v1")
	proxy := newFaultProxy(t, reg.URL, func(_ int, r *http.Request) fault {
		if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, multi.Digest().String()) {
			return status500
		}
		return passThrough
	})
	p := planFor(t, reg, []queries.Candidate{tagRow("app", "multi")}, PlanOptions{})
	j, _ := newJournal(t, "parent")
	ex := fastAPI(t, proxy.URL, func(o *APIOptions) { o.Retries = 2 })
	sum, err := p.Execute(context.Background(), ex, j, ExecOptions{})
	if !errors.Is(err, ErrIncomplete) {
		t.Errorf("Execute() error = %v, want ErrIncomplete", err)
	}
	if sum.Failed != 1 || sum.NotRun != 2 || sum.Deleted != 0 {
		t.Errorf("Execute() = %+v, want 1 failed, 2 not attempted", sum)
	}
	if _, err := reg.Pull("app", "multi"); err != nil {
		t.Errorf("pull app:multi after its deletion failed: %v", err)
	}
	if n := len(proxy.deletes()); n != 0 {
		t.Errorf("the registry received %d DELETEs, want none", n)
	}
}

// TestInterruptAndResume stops a run midway, resumes it from the journal,
// and compares the storage with a twin registry that ran the same plan
// without a stop. Every deletion must reach the registry once, each one
// journaled as planned before it was sent.
func TestInterruptAndResume(t *testing.T) {
	tests := []struct {
		name   string
		replan bool // re-plan the rest against a fresh index
		hang   bool // the registry stops answering instead
	}{
		{name: "cancelled, re-planned", replan: true},
		{name: "cancelled, from the journal alone"},
		{name: "registry stops answering", hang: true, replan: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			twin, v := variedRegistry(t)
			pt := planFor(t, twin, v.cands, v.opts)
			jt, _ := newJournal(t, "twin")
			if _, err := pt.Execute(context.Background(), fastAPI(t, twin.URL), jt, ExecOptions{}); err != nil {
				t.Fatalf("uninterrupted Execute() error = %v", err)
			}

			reg, _ := variedRegistry(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			deletes := 0
			proxy := newFaultProxy(t, reg.URL, func(_ int, r *http.Request) fault {
				if !tt.hang || r.Method != http.MethodDelete {
					return passThrough
				}
				mu.Lock()
				defer mu.Unlock()
				if deletes++; deletes == 4 {
					cancel() // the operator gives up on a registry that hangs
					return hang
				}
				return passThrough
			})
			if !tt.hang {
				proxy.after = func(c call) {
					mu.Lock()
					defer mu.Unlock()
					if c.Method == http.MethodDelete {
						if deletes++; deletes == 3 {
							cancel() // Ctrl-C while the answer is on its way
						}
					}
				}
			}
			p := planFor(t, reg, v.cands, v.opts)
			j, jpath := newJournal(t, "first")
			// A request in flight when the run is stopped gets this long:
			// short, since one hangs, but long enough for a loaded machine.
			ex := fastAPI(t, proxy.URL, func(o *APIOptions) { o.RequestTimeout = 2 * time.Second })
			sum, err := p.Execute(ctx, ex, j, ExecOptions{Workers: 2, Target: proxy.URL})
			if !errors.Is(err, ErrIncomplete) || !errors.Is(err, context.Canceled) || !sum.Interrupted {
				t.Fatalf("interrupted Execute() = %+v, %v; want ErrIncomplete and context.Canceled", sum, err)
			}
			if sum.Deleted == 0 || sum.Deleted == len(p.Actions) {
				t.Fatalf("interrupted run deleted %d of %d: the test stops it at the wrong time", sum.Deleted, len(p.Actions))
			}
			j.Close()

			resumed, err := ResumePlan(readJournal(t, jpath))
			if err != nil {
				t.Fatalf("ResumePlan() error = %v", err)
			}
			if resumed.Target != proxy.URL || resumed.Plan.AlreadyDone != sum.Deleted || len(resumed.Plan.Actions)+sum.Deleted != len(p.Actions) {
				t.Errorf("ResumePlan() = target %q, %d done, %d left; want %q, %d done, %d left",
					resumed.Target, resumed.Plan.AlreadyDone, len(resumed.Plan.Actions), proxy.URL, sum.Deleted, len(p.Actions)-sum.Deleted)
			}
			rest := resumed.Plan
			if tt.replan {
				rest, err = NewPlan(context.Background(), buildIndex(t, reg.Root()), resumed.Plan.CandidateList(), resumed.Options)
				if err != nil {
					t.Fatalf("re-plan: %v", err)
				}
				rest.MarkResumed(resumed)
				if got, want := slices.Sorted(slices.Values(keys(rest))), slices.Sorted(slices.Values(keys(resumed.Plan))); !slices.Equal(got, want) || len(rest.Refused) != 0 {
					t.Errorf("re-planned rest = %v (refused %+v), want %v", got, rest.Refused, want)
				}
			}
			j2 := openJournal(t, jpath, "second")
			sum2, err := rest.Execute(context.Background(), fastAPI(t, proxy.URL), j2, ExecOptions{Target: proxy.URL})
			if err != nil {
				t.Fatalf("resumed Execute() = %+v, %v", sum2, err)
			}
			if sum2.Deleted+sum.Deleted != len(p.Actions) || sum2.AlreadyDone != sum.Deleted {
				t.Errorf("resumed Execute() = %+v, want the %d actions left done", sum2, len(p.Actions)-sum.Deleted)
			}

			if d := diffTrees(tree(t, twin.Root()), tree(t, reg.Root())); len(d) > 0 {
				t.Errorf("interrupted and resumed storage differs from the uninterrupted one:\n%s", strings.Join(d, "\n"))
			}
			entries := readJournal(t, jpath)
			planned := map[string]bool{}
			for _, e := range entries {
				if e.State == journal.Planned {
					planned[e.Key()] = true
				}
			}
			var got []string
			for _, c := range proxy.deletes() {
				got = append(got, c.Path)
				if c.Status != http.StatusAccepted || !planned[c.Path] {
					t.Errorf("DELETE %s: status %d, journaled as planned %v; want 202 and planned", c.Path, c.Status, planned[c.Path])
				}
			}
			slices.Sort(got)
			if want := slices.Sorted(slices.Values(keys(p))); !slices.Equal(got, want) {
				t.Errorf("DELETEs the registry received =\n  %s\nwant each action once:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			checkJournalMatches(t, entries, reg, p)
		})
	}
}
