package journal

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// State is where an action stands.
type State string

// The states an entry records.
const (
	Planned State = "planned" // about to be attempted
	Done    State = "done"    // happened (or was already so: a 404 on delete)
	Failed  State = "failed"  // attempted and failed; safe to retry
	Skipped State = "skipped" // not attempted (refused, or dry run)
)

// Entry is one line of a journal. Action names the kind of work
// ("delete-tag", "delete-manifest", "remove-blob", ...) and Target what it
// acts on; together they are the key an action is known by across runs.
type Entry struct {
	Time   time.Time `json:"time"`
	Run    string    `json:"run"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	State  State     `json:"state"`
	Status int       `json:"status,omitempty"` // HTTP status, where there was one
	Bytes  int64     `json:"bytes,omitempty"`
	Error  string    `json:"error,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Key identifies an action across runs.
func (e Entry) Key() string { return e.Action + " " + e.Target }

// Writer appends entries to a journal file. It is safe for concurrent use.
//
// A Planned entry is synced to disk before Write returns: it must be
// durable before the action it announces happens. Outcome entries (Done,
// Failed, Skipped) are written at once but synced with the next Planned
// entry or at Close: a crash can then lose only the outcome of an action
// whose planned line survives, and every action regsql journals is
// idempotent (deleting what is gone is done), so a rerun redoes it safely.
// One fsync per action instead of two, and WriteBatch announces a whole
// chunk of actions with one.
type Writer struct {
	mu    sync.Mutex
	f     *os.File
	run   string
	now   func() time.Time
	dirty bool // outcome lines written since the last sync
}

// Create opens path for appending (creating it if needed) for run id run.
func Create(path, run string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	return &Writer{f: f, run: run, now: time.Now}, nil
}

// Write appends e, stamped with the time and run id. A Planned entry is
// synced to disk, with every line before it, before Write returns.
func (w *Writer) Write(e Entry) error {
	return w.WriteBatch([]Entry{e})
}

// WriteBatch appends es in one write. If any of them is Planned, all are
// synced to disk before it returns.
func (w *Writer) WriteBatch(es []Entry) error {
	if len(es) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var buf []byte
	sync := false
	for _, e := range es {
		e.Time = w.now().UTC()
		e.Run = w.run
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode journal entry: %w", err)
		}
		buf = append(append(buf, b...), '\n')
		sync = sync || e.State == Planned
	}
	if _, err := w.f.Write(buf); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if !sync {
		w.dirty = true
		return nil
	}
	return w.sync()
}

// Sync makes every line written so far durable.
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sync()
}

func (w *Writer) sync() error {
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	w.dirty = false
	return nil
}

// Close syncs what is not yet durable and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var err error
	if w.dirty {
		err = w.sync()
	}
	return errors.Join(err, w.f.Close())
}

// Read parses a journal. A torn last line (a crash mid-write) is ignored; a
// malformed line elsewhere is an error naming its line number.
func Read(r io.Reader) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	var pending error
	for n := 1; sc.Scan(); n++ {
		if pending != nil {
			return nil, pending
		}
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			pending = fmt.Errorf("journal line %d: %w", n, err)
			continue
		}
		if e.Action == "" || e.Target == "" || e.State == "" {
			return nil, fmt.Errorf("journal line %d: missing action, target or state", n)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	return out, nil // a pending error on the last line is a torn write
}

// ReadFile reads the journal at path.
func ReadFile(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	return Read(f)
}

// DoneKeys returns the keys of the actions a journal records as done.
func DoneKeys(entries []Entry) map[string]bool {
	done := map[string]bool{}
	for _, e := range entries {
		if e.State == Done {
			done[e.Key()] = true
		}
	}
	return done
}

// ErrJournalExists is returned by callers that refuse to start a new run
// over a journal that already has entries (use resume instead).
var ErrJournalExists = errors.New("journal already has entries")
