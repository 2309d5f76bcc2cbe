package deleter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/internal/journal"
)

// Executor carries out deletions: APIExecutor through the registry's HTTP
// API, StorageExecutor on its storage. Both do exactly what the registry's
// DELETE does.
//
// A deletion that finds its target already gone is not an error: it
// returns Outcome.Gone. One that would no longer do what the plan meant
// returns a *RefusedError. A deletion started before ctx is cancelled runs
// to its end (the request in flight is answered), so that what happened can
// be journaled.
type Executor interface {
	// Prepare checks, before anything is deleted, that the executor may
	// run: the registry answers, or its storage is not in use.
	Prepare(ctx context.Context) error
	// DeleteTag deletes repo's tag if it still names want.
	DeleteTag(ctx context.Context, repo, tag string, want digest.Digest) (Outcome, error)
	// DeleteManifest deletes manifest d from repo and every tag naming it;
	// tags are the tags the plan expects to go with it.
	DeleteManifest(ctx context.Context, repo string, d digest.Digest, tags []string) (Outcome, error)
}

// Outcome is how one deletion went.
type Outcome struct {
	Status   int  // HTTP status of the registry's last answer; 0 on storage
	Gone     bool // there was nothing to delete any more
	Attempts int  // requests sent, retries included; 0 on storage
}

// ExecOptions says how Execute runs a plan.
type ExecOptions struct {
	// DryRun returns at once, touching nothing, not even the journal.
	DryRun bool
	// AllowEmpty runs a plan that deletes nothing or that deletes every
	// tag of a repository; without it Execute refuses both.
	AllowEmpty bool
	// Workers is the number of deletions in flight at once within a step;
	// 0 means 4. The API executor's per-host limits apply on top.
	Workers int
	// Target names where the run deletes (a registry URL, a storage root);
	// the journal records it so that resume can default to it.
	Target string
	// Progress, when set, is called after each action, one call at a time.
	Progress func(Result)
}

// Result is what became of one action.
type Result struct {
	Action Action        `json:"action"`
	State  journal.State `json:"state"`            // done, failed, or skipped (refused or not attempted)
	Status int           `json:"status,omitempty"` // HTTP status
	Gone   bool          `json:"gone,omitempty"`   // it was already gone
	// Attempts counts the requests sent, retries included.
	Attempts int    `json:"attempts,omitempty"`
	Reason   Reason `json:"reason,omitempty"` // set when the executor refused it
	Error    string `json:"error,omitempty"`
}

// Summary counts what a run did.
type Summary struct {
	DryRun      bool `json:"dry_run"`
	Actions     int  `json:"actions"`      // in the plan
	Deleted     int  `json:"deleted"`      // actions done, Gone included
	Gone        int  `json:"gone"`         // of Deleted: nothing was left to delete
	Tags        int  `json:"tags"`         // tags deleted, by tag or with their manifest
	Manifests   int  `json:"manifests"`    // manifests deleted
	Refused     int  `json:"refused"`      // candidates refused by the plan, and actions refused by the executor
	Failed      int  `json:"failed"`       // attempted and failed; resume retries them
	NotRun      int  `json:"not_run"`      // not attempted: interrupted, or an index before it was not deleted
	AlreadyDone int  `json:"already_done"` // done by an earlier run of a resumed journal
	Interrupted bool `json:"interrupted"`
	// Bytes is what the registry's GC frees after the deletions done (all
	// of the plan's Bytes when everything was done). BytesKnown is false
	// when it cannot be computed (a resumed plan without an index).
	Bytes      int64    `json:"bytes"`
	BytesKnown bool     `json:"bytes_known"`
	Results    []Result `json:"results"`
}

// Execute runs the plan with ex, journaling every action in j: the whole
// plan as "planned" lines first, then "done", "failed" or "skipped" for each
// action as it ends. A plan executes once; a dry run counts. Actions run
// step by step (see Action.Step); an action whose After actions are not
// done is not attempted. When ctx is cancelled, the deletions in flight
// finish and are journaled, the rest are journaled as not attempted, and
// Execute returns an error wrapping ErrIncomplete and ctx's error.
func (p *Plan) Execute(ctx context.Context, ex Executor, j *journal.Writer, opts ExecOptions) (Summary, error) {
	if p.executed {
		return Summary{}, ErrExecuted
	}
	p.executed = true
	sum := Summary{
		DryRun:      opts.DryRun,
		Actions:     len(p.Actions),
		Refused:     len(p.Refused),
		AlreadyDone: p.AlreadyDone,
		Bytes:       p.Bytes,
		BytesKnown:  p.db != nil,
		Results:     []Result{},
	}
	if opts.DryRun {
		return sum, nil
	}
	if !opts.AllowEmpty {
		if len(p.Actions) == 0 && p.AlreadyDone == 0 {
			return sum, fmt.Errorf("%w: %d candidate(s), %d refused", ErrEmptyPlan, p.Candidates, len(p.Refused))
		}
		if len(p.EmptiedRepos) > 0 {
			return sum, fmt.Errorf("%w: %s", ErrEmptiesRepos, strings.Join(p.EmptiedRepos, ", "))
		}
	}
	if ex == nil || j == nil {
		return sum, errors.New("execute plan: an executor and a journal are required")
	}
	if len(p.Actions) == 0 {
		sum.Bytes = 0
		return sum, nil
	}
	if err := ex.Prepare(ctx); err != nil {
		return sum, err
	}
	if err := p.journalPlan(j, opts.Target); err != nil {
		return sum, err
	}

	r := runner{p: p, ex: ex, j: j, opts: opts, done: map[string]bool{}}
	for k := range p.priorDone {
		r.done[k] = true
	}
	results, err := r.run(ctx)
	sum.Results = results
	for _, res := range results {
		switch res.State {
		case journal.Done:
			sum.Deleted++
			if res.Gone {
				sum.Gone++
			}
			if res.Action.Kind == DeleteManifest {
				sum.Manifests++
				sum.Tags += len(res.Action.Tags)
			} else {
				sum.Tags++
			}
		case journal.Failed:
			sum.Failed++
		case journal.Skipped:
			if res.Reason != "" {
				sum.Refused++
			} else {
				sum.NotRun++
			}
		}
	}
	sum.Interrupted = ctx.Err() != nil
	if sum.Deleted < len(p.Actions) {
		sum.Bytes, sum.BytesKnown = 0, false
		if p.db != nil {
			var done []Action
			for _, res := range results {
				if res.State == journal.Done {
					done = append(done, res.Action)
				}
			}
			// The index still shows the registry before the run, which is
			// what the report needs to compare against.
			if rc, rerr := reclaim(context.WithoutCancel(ctx), p.db, done); rerr == nil {
				sum.Bytes, sum.BytesKnown = rc.bytes, true
			}
		}
	}
	if jerr := p.journalEnd(j, opts.Target, sum); err == nil {
		err = jerr
	}
	switch {
	case err != nil:
		return sum, err
	case sum.Interrupted:
		return sum, fmt.Errorf("%w: interrupted after %d of %d actions: %w", ErrIncomplete, sum.Deleted, len(p.Actions), ctx.Err())
	case sum.Failed > 0 || sum.NotRun > 0:
		return sum, fmt.Errorf("%w: %d failed, %d not attempted", ErrIncomplete, sum.Failed, sum.NotRun)
	}
	return sum, nil
}

// runner runs a plan's actions step by step.
type runner struct {
	p    *Plan
	ex   Executor
	j    *journal.Writer
	opts ExecOptions

	mu   sync.Mutex
	done map[string]bool // keys of the actions done, this run or before
}

func (r *runner) run(ctx context.Context) ([]Result, error) {
	actions := r.p.Actions
	results := make([]Result, len(actions))
	workers := r.opts.Workers
	if workers <= 0 {
		workers = 4
	}
	// A journal that cannot be written stops the run: nothing may be
	// deleted that is not journaled.
	var journalErr error
	stop := func(err error) {
		r.mu.Lock()
		if journalErr == nil {
			journalErr = err
		}
		r.mu.Unlock()
	}
	stopped := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return journalErr != nil
	}

	for start := 0; start < len(actions); {
		end := start
		for end < len(actions) && actions[end].Step == actions[start].Step {
			end++
		}
		jobs := make(chan int)
		var wg sync.WaitGroup
		for range min(workers, end-start) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					res := r.one(ctx, actions[i], stopped)
					if err := r.record(res); err != nil {
						stop(err)
					}
					results[i] = res
				}
			}()
		}
		for i := start; i < end; i++ {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		start = end
	}
	return results, journalErr
}

// one runs a single action, or says why it was not attempted.
func (r *runner) one(ctx context.Context, a Action, stopped func() bool) Result {
	res := Result{Action: a, State: journal.Skipped}
	if stopped() {
		res.Error = "not attempted: the journal could not be written"
		return res
	}
	if err := ctx.Err(); err != nil {
		res.Error = "not attempted: interrupted"
		return res
	}
	r.mu.Lock()
	for _, k := range a.After {
		if !r.done[k] {
			res.Error = fmt.Sprintf("not attempted: %s was not done, and deleting this would break it", k)
		}
	}
	r.mu.Unlock()
	if res.Error != "" {
		return res
	}

	var out Outcome
	var err error
	switch a.Kind {
	case DeleteTag:
		out, err = r.ex.DeleteTag(ctx, a.Repo, a.Tag, a.Digest)
	case DeleteManifest:
		out, err = r.ex.DeleteManifest(ctx, a.Repo, a.Digest, a.Tags)
	default:
		err = fmt.Errorf("unknown action %q", a.Kind)
	}
	res.Status, res.Gone, res.Attempts = out.Status, out.Gone, out.Attempts
	var re *RefusedError
	switch {
	case err == nil:
		res.State = journal.Done
	case errors.As(err, &re):
		res.State, res.Reason, res.Error = journal.Skipped, re.Reason, err.Error()
	default:
		res.State, res.Error = journal.Failed, err.Error()
	}
	return res
}

// record journals a result, marks it done for the actions after it, and
// reports progress.
func (r *runner) record(res Result) error {
	e := journalResult(res)
	err := r.j.Write(e)
	r.mu.Lock()
	defer r.mu.Unlock()
	if res.State == journal.Done {
		r.done[res.Action.Key()] = true
	}
	if r.opts.Progress != nil {
		r.opts.Progress(res)
	}
	return err
}
