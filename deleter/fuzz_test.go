package deleter

import (
	"bytes"
	"errors"
	"testing"

	"github.com/regsql/regsql/internal/journal"
)

// FuzzResumePlan feeds ResumePlan whatever a journal file may hold: it must
// return a plan or ErrBadJournal, never panic.
func FuzzResumePlan(f *testing.F) {
	f.Add([]byte(`{"action":"delete-run","target":"registry=x","state":"planned","detail":"{\"options\":{}}"}
{"action":"delete-tag","target":"app:v1","state":"planned","detail":"{\"action\":\"delete-tag\",\"repo\":\"app\",\"tag\":\"v1\",\"digest\":\"sha256:aa\"}"}
{"action":"delete-tag","target":"app:v1","state":"done","status":202}
`))
	f.Add([]byte(`{"action":"delete-manifest","target":"app@x","state":"planned","detail":"{\"action\":\"delete-manifest\",\"repo\":\"app\",\"digest\":\"x\"}"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := journal.Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		r, err := ResumePlan(entries)
		if err != nil {
			if !errors.Is(err, ErrBadJournal) {
				t.Errorf("ResumePlan() error = %v, want ErrBadJournal", err)
			}
			return
		}
		for _, a := range r.Plan.Actions {
			_ = a.Key()
		}
		_ = r.Plan.CandidateList()
	})
}

// FuzzErrorCode reads registry error bodies, which come from the network.
func FuzzErrorCode(f *testing.F) {
	f.Add([]byte(`{"errors":[{"code":"UNSUPPORTED","message":"x"}]}`))
	f.Add([]byte(`"code":`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c := errorCode(b); len(c) > len(b) {
			t.Errorf("errorCode() = %q, longer than its input", c)
		}
	})
}
