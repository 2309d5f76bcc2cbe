package deleter

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/regsql/regsql/internal/journal"
	"github.com/regsql/regsql/queries"
)

// runAction is the journal action of a run's first and last lines.
const runAction = "delete-run"

// runRecord is the detail of a run's first line: what resume needs to
// finish the run the same way.
type runRecord struct {
	Target   string      `json:"target,omitempty"`
	Options  PlanOptions `json:"options"`
	Actions  int         `json:"actions"`
	Refused  int         `json:"refused"`
	Bytes    int64       `json:"bytes"`
	Resuming bool        `json:"resuming,omitempty"`
}

// journalPlan writes a run's first line and then every action of the plan
// as planned, before any is attempted: a journal is then a complete record
// of the run even if it stops at the first action, and resume can read what
// is left from it. Candidates the plan refused are written as skipped.
func (p *Plan) journalPlan(j *journal.Writer, target string) error {
	rec, _ := json.Marshal(runRecord{
		Target: target, Options: p.Options, Actions: len(p.Actions),
		Refused: len(p.Refused), Bytes: p.Bytes, Resuming: p.AlreadyDone > 0 || p.priorDone != nil,
	})
	if err := j.Write(journal.Entry{Action: runAction, Target: runTarget(target), State: journal.Planned, Bytes: p.Bytes, Detail: string(rec)}); err != nil {
		return err
	}
	for _, a := range p.Actions {
		spec, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("encode action %s: %w", a.Key(), err)
		}
		if err := j.Write(journal.Entry{Action: string(a.Kind), Target: a.Target(), State: journal.Planned, Detail: string(spec)}); err != nil {
			return err
		}
	}
	for _, rf := range p.Refused {
		kind, target := refusedTarget(rf.Candidate)
		if err := j.Write(journal.Entry{Action: kind, Target: target, State: journal.Skipped, Error: "refused (" + string(rf.Reason) + "): " + rf.Detail}); err != nil {
			return err
		}
	}
	return nil
}

// journalEnd writes a run's last line, with its summary.
func (p *Plan) journalEnd(j *journal.Writer, target string, sum Summary) error {
	s := sum
	s.Results = nil
	detail, _ := json.Marshal(s)
	state := journal.Done
	if sum.Interrupted || sum.Failed > 0 || sum.NotRun > 0 {
		state = journal.Failed
	}
	return j.Write(journal.Entry{Action: runAction, Target: runTarget(target), State: state, Bytes: sum.Bytes, Detail: string(detail)})
}

func runTarget(target string) string {
	if target == "" {
		return "-"
	}
	return target
}

// journalResult is the journal line of an action's end.
func journalResult(res Result) journal.Entry {
	e := journal.Entry{Action: string(res.Action.Kind), Target: res.Action.Target(), State: res.State, Status: res.Status, Error: res.Error}
	var detail []string
	if res.Gone {
		detail = append(detail, "already gone")
	}
	if res.Attempts > 1 {
		detail = append(detail, fmt.Sprintf("%d requests", res.Attempts))
	}
	e.Detail = strings.Join(detail, "; ")
	return e
}

// refusedTarget names a refused candidate the way the action it asked for
// would be named.
func refusedTarget(c queries.Candidate) (kind, target string) {
	switch {
	case c.Tag != "" && c.Digest != "":
		return string(DeleteTag), c.Repo + ":" + c.Tag + "@" + c.Digest.String()
	case c.Tag != "":
		return string(DeleteTag), c.Repo + ":" + c.Tag
	case c.Repo == "":
		return string(DeleteManifest), "-@" + c.Digest.String()
	default:
		return string(DeleteManifest), c.Repo + "@" + c.Digest.String()
	}
}

// Resumed is what a journal says about an interrupted delete run.
type Resumed struct {
	// Target is where the first run deleted (ExecOptions.Target).
	Target string
	// Options are the first run's plan options.
	Options PlanOptions
	// Plan holds the actions planned and not done, in their order. It has
	// no index: its Bytes are unknown. Re-plan its CandidateList against a
	// fresh index when one can be built, so that the safety rules are
	// checked again against the registry as it is now.
	Plan *Plan
	// Runs counts the runs the journal holds.
	Runs int
}

// ResumePlan reads a delete journal (journal.ReadFile) and returns what is
// left to do: every action some run planned and no run did. It fails with
// ErrBadJournal when entries hold no delete run or a plan line is not an
// action.
func ResumePlan(entries []journal.Entry) (*Resumed, error) {
	res := &Resumed{}
	done := journal.DoneKeys(entries)
	seen := map[string]bool{}
	var actions []Action
	for i, e := range entries {
		if e.Action == runAction {
			if e.State != journal.Planned {
				continue
			}
			var rec runRecord
			if err := json.Unmarshal([]byte(e.Detail), &rec); err != nil {
				return nil, fmt.Errorf("%w: entry %d: bad run record: %w", ErrBadJournal, i+1, err)
			}
			if res.Runs == 0 {
				res.Target, res.Options = rec.Target, rec.Options
			}
			res.Runs++
			continue
		}
		if e.State != journal.Planned || seen[e.Key()] {
			continue
		}
		var a Action
		if err := json.Unmarshal([]byte(e.Detail), &a); err != nil {
			return nil, fmt.Errorf("%w: entry %d (%s): bad action: %w", ErrBadJournal, i+1, e.Key(), err)
		}
		if a.Key() != e.Key() {
			return nil, fmt.Errorf("%w: entry %d: %s holds the action %s", ErrBadJournal, i+1, e.Key(), a.Key())
		}
		seen[e.Key()] = true
		actions = append(actions, a)
	}
	if res.Runs == 0 {
		return nil, fmt.Errorf("%w: no %q line", ErrBadJournal, runAction)
	}
	p := newPlan(res.Options)
	p.priorDone = map[string]bool{}
	for _, a := range actions {
		if done[a.Key()] {
			p.AlreadyDone++
			p.priorDone[a.Key()] = true
			continue
		}
		p.Actions = append(p.Actions, a)
	}
	p.Candidates = len(p.Actions)
	res.Plan = p
	return res, nil
}

// CandidateList is the candidate list that asks for exactly what the plan's
// actions do: each tag (with the digest it must name) and each manifest by
// digest with its tags. Planning it again against a fresh index re-checks
// a resumed run.
func (p *Plan) CandidateList() []queries.Candidate { return asCandidates(p.Actions) }

// MarkResumed records that p (planned afresh from r.Plan's CandidateList)
// continues the journal r was read from, so that its summary counts what the
// earlier runs did.
func (p *Plan) MarkResumed(r *Resumed) {
	p.AlreadyDone = r.Plan.AlreadyDone
	p.priorDone = r.Plan.priorDone
}
