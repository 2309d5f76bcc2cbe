package journal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReadDone(t *testing.T) {
	p := filepath.Join(t.TempDir(), "j.jsonl")
	w, err := Create(p, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []Entry{
		{Action: "delete-tag", Target: "app:v1", State: Planned},
		{Action: "delete-tag", Target: "app:v1", State: Done, Status: 202},
		{Action: "delete-tag", Target: "app:v2", State: Planned},
		{Action: "delete-tag", Target: "app:v2", State: Failed, Status: 500, Error: "boom"},
	} {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[1].Run != "run-1" || got[1].Time.IsZero() || got[3].Error != "boom" {
		t.Fatalf("ReadFile() = %+v", got)
	}
	done := DoneKeys(got)
	if !done["delete-tag app:v1"] || done["delete-tag app:v2"] || len(done) != 1 {
		t.Errorf("DoneKeys() = %v, want only app:v1", done)
	}
}

func TestReadTornAndMalformed(t *testing.T) {
	good := `{"action":"a","target":"t","state":"done"}`
	tests := []struct {
		name    string
		in      string
		want    int
		wantErr string
	}{
		{name: "torn last line is ignored", in: good + "\n" + `{"action":"a","tar`, want: 1},
		{name: "malformed middle line", in: good + "\n{oops\n" + good + "\n", wantErr: "line 2"},
		{name: "missing fields", in: `{"action":"a"}` + "\n", wantErr: "line 1"},
		{name: "empty", in: "", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Read() error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("Read() = %d entries, %v; want %d", len(got), err, tt.want)
			}
		})
	}
}

func TestAppendsAcrossRuns(t *testing.T) {
	p := filepath.Join(t.TempDir(), "j.jsonl")
	for _, run := range []string{"a", "b"} {
		w, err := Create(p, run)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(Entry{Action: "x", Target: run, State: Done}); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	b, _ := os.ReadFile(p)
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Errorf("journal has %d lines after two runs, want 2", n)
	}
}

// TestWriteBatchAndClose checks that a batch lands whole and in order, and
// that outcome lines, which are synced lazily, are all there after Close.
func TestWriteBatchAndClose(t *testing.T) {
	p := filepath.Join(t.TempDir(), "j.jsonl")
	w, err := Create(p, "run")
	if err != nil {
		t.Fatal(err)
	}
	var batch []Entry
	for _, target := range []string{"a", "b", "c"} {
		batch = append(batch, Entry{Action: "remove-blob", Target: target, State: Planned})
	}
	if err := w.WriteBatch(batch); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"a", "b", "c"} {
		if err := w.Write(Entry{Action: "remove-blob", Target: target, State: Done}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range got {
		order = append(order, e.Target+":"+string(e.State))
	}
	want := "a:planned b:planned c:planned a:done b:done c:done"
	if strings.Join(order, " ") != want {
		t.Errorf("journal = %q, want %q", strings.Join(order, " "), want)
	}
	if err := w.Write(Entry{Action: "x", Target: "y", State: Done}); err == nil {
		t.Error("Write() after Close succeeded, want an error")
	}
}
