package deleter

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/internal/journal"
)

func TestResumePlan(t *testing.T) {
	tag := Action{Kind: DeleteTag, Repo: "app", Tag: "v1", Digest: digest.Digest("sha256:" + string(make64('a'))), Why: WhySharedDigest}
	man := Action{Kind: DeleteManifest, Repo: "app", Digest: digest.Digest("sha256:" + string(make64('b'))), Why: WhyLastTag, Step: 1}
	child := Action{Kind: DeleteManifest, Repo: "app", Digest: digest.Digest("sha256:" + string(make64('c'))), Why: WhyChild, Step: 2, After: []string{man.Key()}}
	run := journal.Entry{Action: runAction, Target: "https://reg", State: journal.Planned, Detail: `{"target":"https://reg","options":{"protect":["^latest$"]}}`}
	planned := func(a Action) journal.Entry {
		b, _ := json.Marshal(a)
		return journal.Entry{Action: string(a.Kind), Target: a.Target(), State: journal.Planned, Detail: string(b)}
	}
	ended := func(a Action, s journal.State) journal.Entry {
		return journal.Entry{Action: string(a.Kind), Target: a.Target(), State: s}
	}

	tests := []struct {
		name     string
		entries  []journal.Entry
		wantLeft []string
		wantDone int
		wantErr  error
	}{
		{
			name:     "stopped after the first action",
			entries:  []journal.Entry{run, planned(tag), planned(man), planned(child), ended(tag, journal.Done), ended(man, journal.Skipped)},
			wantLeft: []string{man.Key(), child.Key()},
			wantDone: 1,
		},
		{
			name: "resumed once already",
			entries: []journal.Entry{run, planned(tag), planned(man), planned(child), ended(tag, journal.Done), ended(man, journal.Failed),
				run, planned(man), planned(child), ended(man, journal.Done)},
			wantLeft: []string{child.Key()},
			wantDone: 2,
		},
		{name: "no run line", entries: []journal.Entry{planned(tag)}, wantErr: ErrBadJournal},
		{name: "a plan line that is not an action", entries: []journal.Entry{run, {Action: "delete-tag", Target: "app:v1", State: journal.Planned, Detail: "{"}}, wantErr: ErrBadJournal},
		{name: "a plan line for another action", entries: []journal.Entry{run, {Action: "delete-tag", Target: "app:v2", State: journal.Planned, Detail: planned(tag).Detail}}, wantErr: ErrBadJournal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResumePlan(tt.entries)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ResumePlan() error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResumePlan() error = %v", err)
			}
			var left []string
			for _, a := range got.Plan.Actions {
				left = append(left, a.Key())
			}
			if !slices.Equal(left, tt.wantLeft) || got.Plan.AlreadyDone != tt.wantDone {
				t.Errorf("ResumePlan() = %v, %d done; want %v, %d done", left, got.Plan.AlreadyDone, tt.wantLeft, tt.wantDone)
			}
			if got.Target != "https://reg" || len(got.Options.Protect) != 1 {
				t.Errorf("ResumePlan() target, options = %q, %+v; want the first run's", got.Target, got.Options)
			}
		})
	}
}

func make64(c byte) []byte {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return b
}
