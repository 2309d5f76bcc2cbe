package deleter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/queries"
)

// candString names a candidate row in test expectations.
func candString(c queries.Candidate) string {
	s := c.Repo
	if c.Tag != "" {
		s += ":" + c.Tag
	}
	if c.Digest != "" {
		s += "@" + c.Digest.String()
	}
	return s
}

// TestPlanSafetyRules builds each dangerous situation in a real registry
// and checks what the plan does about it.
func TestPlanSafetyRules(t *testing.T) {
	base := registrytest.Layer(100, 512)
	v1, v2 := img(1, base), img(2, base)
	amd, arm := arch(10, "amd64", base), arch(11, "arm64", base)
	riscv := arch(12, "riscv64")
	multi := registrytest.Index(amd, arm)
	other := registrytest.Index(amd, riscv)
	outer := registrytest.Index(multi, riscv)
	sig := registrytest.Artifact(v1, sigType)
	sbom := registrytest.Artifact(v1, sbomType)
	sigOfSig := registrytest.Artifact(sig, sigType)
	defaultProtect := PlanOptions{Protect: []string{DefaultProtect}}

	tests := []struct {
		name        string
		setup       func(t *testing.T, reg *registrytest.Registry)
		cands       []queries.Candidate
		opts        PlanOptions
		wantActions []string
		wantRefused map[string]Reason
		wantWarn    []WarningKind
		wantEmptied []string
	}{
		{
			name: "last tag takes its manifest",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", v1, "v1")
				push(t, reg, "app", v2, "v2")
			},
			cands:       []queries.Candidate{tagRow("app", "v1")},
			wantActions: []string{manifestKey("app", v1.Digest())},
		},
		{
			name: "shared digest: a tag whose manifest keeps another tag goes alone",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", v1, "v1", "v1.0")
			},
			cands:       []queries.Candidate{tagRow("app", "v1")},
			wantActions: []string{tagKey("app", "v1")},
		},
		{
			name: "shared digest: deleting by digest would take tags that are not candidates",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", v1, "v1", "v1.0")
				push(t, reg, "app", v2, "v2")
			},
			cands:       []queries.Candidate{digestRow("app", v1.Digest())},
			wantRefused: map[string]Reason{"app@" + v1.Digest().String(): ReasonSharedDigest},
		},
		{
			name: "by digest with every tag on it",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", v1, "v1", "v1.0")
				push(t, reg, "app", v2, "v2")
			},
			cands:       []queries.Candidate{digestRow("app", v1.Digest()), tagRow("app", "v1"), tagRow("app", "v1.0")},
			wantActions: []string{manifestKey("app", v1.Digest())},
		},
		{
			name: "protected tag",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", v1, "latest")
				push(t, reg, "app", v2, "v2")
			},
			cands:       []queries.Candidate{tagRow("app", "latest")},
			opts:        defaultProtect,
			wantRefused: map[string]Reason{"app:latest": ReasonProtected},
		},
		{
			name: "protected as repo:tag",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "prod/app", v1, "v1")
				push(t, reg, "prod/app", v2, "v2")
				push(t, reg, "dev/app", v1, "v1")
				push(t, reg, "dev/app", v2, "v2")
			},
			cands:       []queries.Candidate{tagRow("prod/app", "v1"), tagRow("dev/app", "v1")},
			opts:        PlanOptions{Protect: []string{`^prod/`}},
			wantActions: []string{manifestKey("dev/app", v1.Digest())},
			wantRefused: map[string]Reason{"prod/app:v1": ReasonProtected},
		},
		{
			name: "protected tag on a manifest asked for by digest",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", v1, "v1", "latest")
				push(t, reg, "app", v2, "v2")
			},
			cands:       []queries.Candidate{digestRow("app", v1.Digest()), tagRow("app", "v1"), tagRow("app", "latest")},
			opts:        defaultProtect,
			wantActions: []string{tagKey("app", "v1")},
			wantRefused: map[string]Reason{"app@" + v1.Digest().String(): ReasonProtected, "app:latest": ReasonProtected},
		},
		{
			name: "stale candidate: the tag moved",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", v2, "v1")
				push(t, reg, "app", v1, "old")
			},
			cands:       []queries.Candidate{pinnedRow("app", "v1", v1.Digest()), pinnedRow("app", "old", v1.Digest())},
			wantActions: []string{manifestKey("app", v1.Digest())},
			wantRefused: map[string]Reason{"app:v1@" + v1.Digest().String(): ReasonStale},
		},
		{
			name: "not found",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", v1, "v1")
			},
			cands: []queries.Candidate{tagRow("app", "nope"), tagRow("gone", "v1"), digestRow("app", v2.Digest())},
			wantRefused: map[string]Reason{
				"app:nope": ReasonNotFound, "gone:v1": ReasonNotFound, "app@" + v2.Digest().String(): ReasonNotFound,
			},
		},
		{
			name: "invalid row",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", v1, "v1")
			},
			cands:       []queries.Candidate{{Repo: "App", Tag: "v1"}},
			wantRefused: map[string]Reason{"App:v1": ReasonInvalid},
		},
		{
			name: "kept index child: by digest is refused, its tag goes alone",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", multi, "multi")
				push(t, reg, "app", amd, "amd64")
			},
			cands:       []queries.Candidate{digestRow("app", amd.Digest()), tagRow("app", "amd64")},
			wantActions: []string{tagKey("app", "amd64")},
			wantRefused: map[string]Reason{"app@" + amd.Digest().String(): ReasonKeptIndexChild},
		},
		{
			name: "an index takes its children",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", multi, "multi")
				push(t, reg, "app", v1, "v1")
			},
			cands: []queries.Candidate{tagRow("app", "multi")},
			wantActions: []string{
				manifestKey("app", multi.Digest()),
				manifestKey("app", amd.Digest()), manifestKey("app", arm.Digest()),
			},
		},
		{
			name: "a child another tag keeps stays",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", multi, "multi")
				push(t, reg, "app", amd, "amd64")
			},
			cands:       []queries.Candidate{tagRow("app", "multi")},
			wantActions: []string{manifestKey("app", multi.Digest()), manifestKey("app", arm.Digest())},
		},
		{
			name: "a child another index that stays lists stays",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", multi, "multi")
				push(t, reg, "app", other, "other")
			},
			cands:       []queries.Candidate{tagRow("app", "multi")},
			wantActions: []string{manifestKey("app", multi.Digest()), manifestKey("app", arm.Digest())},
		},
		{
			name: "nested index: parents before children",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", outer, "outer")
				push(t, reg, "app", v1, "v1")
			},
			cands: []queries.Candidate{tagRow("app", "outer")},
			wantActions: []string{
				manifestKey("app", outer.Digest()),
				manifestKey("app", multi.Digest()), manifestKey("app", riscv.Digest()),
				manifestKey("app", amd.Digest()), manifestKey("app", arm.Digest()),
			},
		},
		{
			name: "referrers become orphans without WithReferrers",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", v1, "v1")
				push(t, reg, "app", v2, "v2")
				push(t, reg, "app", sig)
				push(t, reg, "app", sbom)
			},
			cands:       []queries.Candidate{tagRow("app", "v1")},
			wantActions: []string{manifestKey("app", v1.Digest())},
			wantWarn:    []WarningKind{WarnOrphanReferrer, WarnOrphanReferrer},
		},
		{
			name: "referrers go first with WithReferrers",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", v1, "v1")
				push(t, reg, "app", v2, "v2")
				push(t, reg, "app", sig)
				push(t, reg, "app", sbom)
				push(t, reg, "app", sigOfSig)
			},
			cands: []queries.Candidate{tagRow("app", "v1")},
			opts:  PlanOptions{WithReferrers: true},
			wantActions: []string{
				manifestKey("app", sigOfSig.Digest()),
				manifestKey("app", sbom.Digest()), manifestKey("app", sig.Digest()),
				manifestKey("app", v1.Digest()),
			},
		},
		{
			name: "a tagged referrer stays",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", v1, "v1")
				push(t, reg, "app", v2, "v2")
				push(t, reg, "app", sig, "sha256-"+v1.Digest().Encoded()+".sig")
			},
			cands:       []queries.Candidate{tagRow("app", "v1")},
			opts:        PlanOptions{WithReferrers: true},
			wantActions: []string{manifestKey("app", v1.Digest())},
			wantWarn:    []WarningKind{WarnOrphanReferrer, WarnReferrerTag},
		},
		{
			name: "deleting every tag of a repository",
			setup: func(t *testing.T, reg *registrytest.Registry) {
				push(t, reg, "app", v1, "v1", "v1.0")
				push(t, reg, "keep", v1, "v1")
			},
			cands:       []queries.Candidate{tagRow("app", "v1"), tagRow("app", "v1.0")},
			wantActions: []string{manifestKey("app", v1.Digest())},
			wantWarn:    []WarningKind{WarnEmptiesRepo},
			wantEmptied: []string{"app"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each case has its own registry
			reg := registrytest.Start(t)
			tt.setup(t, reg)
			p := planFor(t, reg, tt.cands, tt.opts)

			// Order is checked by checkOrder and TestPlanOrder; within a step
			// it is by digest, which the content picks.
			got, want := slices.Sorted(slices.Values(keys(p))), slices.Sorted(slices.Values(tt.wantActions))
			if !slices.Equal(got, want) {
				t.Errorf("actions =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			gotRefused := map[string]Reason{}
			for _, r := range p.Refused {
				gotRefused[candString(r.Candidate)] = r.Reason
				if r.Detail == "" {
					t.Errorf("refusal of %s has no detail", candString(r.Candidate))
				}
			}
			if tt.wantRefused == nil {
				tt.wantRefused = map[string]Reason{}
			}
			if !maps.Equal(gotRefused, tt.wantRefused) {
				t.Errorf("refused = %v, want %v (%+v)", gotRefused, tt.wantRefused, p.Refused)
			}
			var gotWarn []WarningKind
			for _, w := range p.Warnings {
				gotWarn = append(gotWarn, w.Kind)
			}
			slices.Sort(gotWarn)
			if !slices.Equal(gotWarn, tt.wantWarn) {
				t.Errorf("warnings = %v, want %v (%+v)", gotWarn, tt.wantWarn, p.Warnings)
			}
			if !slices.Equal(p.EmptiedRepos, tt.wantEmptied) {
				t.Errorf("EmptiedRepos = %v, want %v", p.EmptiedRepos, tt.wantEmptied)
			}
			checkOrder(t, p)
		})
	}
}

// checkOrder checks the order rules on a plan: steps never decrease, tags
// come first, and every action's After names an earlier step's action.
func checkOrder(t *testing.T, p *Plan) {
	t.Helper()
	step := map[string]int{}
	for i, a := range p.Actions {
		step[a.Key()] = a.Step
		if i > 0 && a.Step < p.Actions[i-1].Step {
			t.Errorf("action %d (%s) is step %d after step %d", i, a.Key(), a.Step, p.Actions[i-1].Step)
		}
		if (a.Kind == DeleteTag) != (a.Step == 0) {
			t.Errorf("%s is step %d: tags and only tags are step 0", a.Key(), a.Step)
		}
	}
	for _, a := range p.Actions {
		for _, k := range a.After {
			s, ok := step[k]
			if !ok || s >= a.Step {
				t.Errorf("%s (step %d) waits for %s (step %d, in plan %v)", a.Key(), a.Step, k, s, ok)
			}
		}
	}
}

// TestPlanOrder checks the steps: referrers before their subjects, indexes
// before their children, and what each action waits for.
func TestPlanOrder(t *testing.T) {
	amd, arm, riscv := arch(10, "amd64"), arch(11, "arm64"), arch(12, "riscv64")
	multi := registrytest.Index(amd, arm)
	outer := registrytest.Index(multi, riscv)
	sig := registrytest.Artifact(outer, sigType)
	sigOfSig := registrytest.Artifact(sig, sigType)
	sbom := registrytest.Artifact(amd, sbomType)

	reg := registrytest.Start(t)
	push(t, reg, "app", outer, "outer")
	push(t, reg, "app", img(1), "v1")
	for _, m := range []*registrytest.Manifest{sig, sigOfSig, sbom} {
		push(t, reg, "app", m)
	}
	p := planFor(t, reg, []queries.Candidate{tagRow("app", "outer")}, PlanOptions{WithReferrers: true})
	checkOrder(t, p)

	mk := func(d *registrytest.Manifest) string { return manifestKey("app", d.Digest()) }
	want := map[string]struct {
		step  int
		after []string
	}{
		mk(sigOfSig): {1, nil},
		mk(sig):      {2, nil},
		mk(outer):    {3, nil},
		mk(multi):    {4, []string{mk(outer)}},
		mk(riscv):    {4, []string{mk(outer)}},
		mk(sbom):     {1, nil},
		mk(amd):      {5, []string{mk(multi)}},
		mk(arm):      {5, []string{mk(multi)}},
	}
	if len(p.Actions) != len(want) {
		t.Fatalf("actions = %v, want %d", keys(p), len(want))
	}
	for _, a := range p.Actions {
		w, ok := want[a.Key()]
		if !ok || a.Step != w.step || !slices.Equal(a.After, w.after) {
			t.Errorf("%s: step %d after %v, want step %d after %v", a.Key(), a.Step, a.After, w.step, w.after)
		}
	}
}

func TestPlanChildWaitsForItsIndex(t *testing.T) {
	reg := registrytest.Start(t)
	amd, arm := arch(10, "amd64"), arch(11, "arm64")
	multi := registrytest.Index(amd, arm)
	push(t, reg, "app", multi, "multi")
	push(t, reg, "app", img(1), "v1")
	p := planFor(t, reg, []queries.Candidate{tagRow("app", "multi")}, PlanOptions{})
	for _, a := range p.Actions {
		if a.Digest == multi.Digest() {
			if a.Step != 1 || len(a.After) != 0 {
				t.Errorf("index action = step %d after %v, want step 1 after nothing", a.Step, a.After)
			}
			continue
		}
		if want := []string{manifestKey("app", multi.Digest())}; a.Step != 2 || !slices.Equal(a.After, want) || a.Why != WhyChild || a.Of != multi.Digest() {
			t.Errorf("child action = %+v, want step 2, why child of %s, after %v", a, multi.Digest(), want)
		}
	}
}

func TestPlanBytesMatchReclaimable(t *testing.T) {
	reg := registrytest.Start(t)
	base := registrytest.Layer(100, 4096)
	push(t, reg, "app", img(1, base), "v1")
	push(t, reg, "app", img(2, base), "v2")
	push(t, reg, "app", img(3, base), "v3", "stable")
	push(t, reg, "other", img(1, base), "v1")
	cands := []queries.Candidate{tagRow("app", "v1"), tagRow("app", "v2"), tagRow("app", "v3")}
	p := planFor(t, reg, cands, PlanOptions{})

	// app:v1 is shared with other:v1, so only v2's own layer, config and
	// manifest are freed; v3 stays (stable keeps it).
	v2 := img(2, base)
	want := int64(len(v2.Body) + len(v2.Config) + len(v2.Layers[1]))
	if p.Bytes != want || p.Blobs != 3 {
		t.Errorf("Bytes, Blobs = %d, %d, want %d, 3", p.Bytes, p.Blobs, want)
	}
	if p.Tags() != 3 || p.Manifests() != 2 {
		t.Errorf("Tags(), Manifests() = %d, %d, want 3, 2", p.Tags(), p.Manifests())
	}
	if len(p.Repos) != 1 || p.Repos[0].Repo != "app" || p.Repos[0].Bytes != want || p.Repos[0].Manifests != 2 {
		t.Errorf("Repos = %+v, want app: 2 manifests, %d bytes", p.Repos, want)
	}
}

func TestPlanBadProtect(t *testing.T) {
	reg := registrytest.Start(t)
	push(t, reg, "app", img(1), "v1")
	_, err := NewPlan(context.Background(), buildIndex(t, reg.Root()), nil, PlanOptions{Protect: []string{"("}})
	if !errors.Is(err, ErrBadProtect) {
		t.Errorf("NewPlan() error = %v, want ErrBadProtect", err)
	}
}

func TestReferrerTagSubject(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	tests := []struct {
		name, tag string
		want      string
	}{
		{name: "oci fallback tag", tag: "sha256-" + hex, want: "sha256:" + hex},
		{name: "cosign signature", tag: "sha256-" + hex + ".sig", want: "sha256:" + hex},
		{name: "plain tag", tag: "v1.0"},
		{name: "short hex", tag: "sha256-abc.sig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := referrerTagSubject(tt.tag)
			if string(got) != tt.want || ok != (tt.want != "") {
				t.Errorf("referrerTagSubject(%q) = %q, %v, want %q", tt.tag, got, ok, tt.want)
			}
		})
	}
}

func ExampleAction_Target() {
	a := Action{Kind: DeleteTag, Repo: "team/api", Tag: "v1"}
	fmt.Println(a.Target(), a.Key())
	// Output: team/api:v1 delete-tag team/api:v1
}
