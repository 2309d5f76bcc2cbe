package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regsql/regsql/internal/journal"
	"github.com/regsql/regsql/internal/registrytest"
)

// agedRegistry is a registry with a tagged image, an untagged one and an
// unreferenced blob, every file of it two days old.
func agedRegistry(t *testing.T) *registrytest.Registry {
	t.Helper()
	reg := registrytest.Start(t)
	if _, err := reg.Push("app", "v1", registrytest.Image(registrytest.ImageOptions{Seed: 1})); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Push("app", "", registrytest.Image(registrytest.ImageOptions{Seed: 2})); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.PushBlob("app", registrytest.Layer(3, 100)); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-48 * time.Hour)
	err := filepath.WalkDir(reg.Root(), func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		return os.Chtimes(p, at, at)
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestGCDryRunAndYes(t *testing.T) {
	reg := agedRegistry(t)

	out, stderr, err := run(t, "", "gc", "--root", reg.Root(), "--delete-untagged", "-o", "tsv")
	if err != nil {
		t.Fatalf("gc: %v\n%s", err, stderr)
	}
	want := "kind\tcount\tbytes\nrevision\t1\t0\nlayer-link\t3\t0\nblob\t"
	if !strings.HasPrefix(out, want) {
		t.Errorf("gc dry run stdout = %q, want it to start %q", out, want)
	}
	if !strings.Contains(stderr, "dry run: nothing was removed") {
		t.Errorf("gc dry run stderr = %q, want it to say nothing was removed", stderr)
	}

	out, _, err = run(t, "", "gc", "--config", reg.ConfigPath(), "--list", "-o", "jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "\n"); n != 2 || !strings.Contains(out, `"kind":"layer-link"`) || !strings.Contains(out, `"kind":"blob"`) {
		t.Errorf("gc --list -o jsonl = %q, want the unreferenced blob and its layer link", out)
	}

	jp := filepath.Join(t.TempDir(), "gc.jsonl")
	out, stderr, err = run(t, "", "gc", "--root", reg.Root(), "--delete-untagged", "--yes", "--journal", jp, "-o", "csv")
	if err != nil {
		t.Fatalf("gc --yes: %v\n%s", err, stderr)
	}
	if !strings.HasPrefix(out, "kind,removed,skipped,failed,bytes\nrevision,1,0,0,0\nlayer-link,3,0,0,0\nblob,") {
		t.Errorf("gc --yes stdout = %q", out)
	}
	entries, err := journal.ReadFile(jp)
	if err != nil {
		t.Fatal(err)
	}
	if done := journal.DoneKeys(entries); len(done) != 1+3+4 {
		t.Errorf("journal has %d done actions, want 8: %v", len(done), done)
	}
	if _, err := reg.Pull("app", "v1"); err != nil {
		t.Errorf("Pull(app:v1) after gc: %v", err)
	}

	out, stderr, err = run(t, "", "gc", "--root", reg.Root(), "--delete-untagged", "--yes", "--journal", filepath.Join(t.TempDir(), "again.jsonl"))
	if err != nil || !strings.Contains(stderr, "nothing to remove") {
		t.Errorf("second gc --yes: %v, stderr %q", err, stderr)
	}
	if !strings.Contains(out, "blob\t0\t0\t0\t0") {
		t.Errorf("second gc --yes stdout = %q, want zero counts", out)
	}
}

func TestGCUsage(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no storage", args: []string{"gc"}, want: "exactly one of --root"},
		{name: "both storages", args: []string{"gc", "--root", dir, "--config", "x.yml"}, want: "exactly one of --root"},
		{name: "bad grace", args: []string{"gc", "--root", dir, "--grace", "soon"}, want: "--grace"},
		{name: "bad uploads age", args: []string{"gc", "--root", dir, "--uploads-older-than", "-1"}, want: "--uploads-older-than"},
		{name: "journal without yes", args: []string{"gc", "--root", dir, "--journal", "j.jsonl"}, want: "needs --yes"},
		{name: "argument", args: []string{"gc", "--root", dir, "extra"}, want: "no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := run(t, "", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("regsql %v error = %v, want one mentioning %q", tt.args, err, tt.want)
			}
			if got := exitCode(err); got != exitUsage {
				t.Errorf("exitCode() = %d, want %d", got, exitUsage)
			}
		})
	}
}
