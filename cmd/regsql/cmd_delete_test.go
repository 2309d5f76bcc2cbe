package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/regsql/regsql/internal/journal"
	"github.com/regsql/regsql/internal/registrytest"
)

// deleteRegistry is a registry with two repositories: app (v1, v2, v3 and
// latest on v3) and lone (only v1).
func deleteRegistry(t *testing.T) *registrytest.Registry {
	t.Helper()
	reg := registrytest.Start(t)
	for i, ref := range [][]string{{"app", "v1"}, {"app", "v2"}, {"app", "v3", "latest"}, {"lone", "v1"}} {
		m := registrytest.Image(registrytest.ImageOptions{Seed: int64(i + 1)})
		for _, tag := range ref[1:] {
			if _, err := reg.Push(ref[0], tag, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	return reg
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func served(t *testing.T, reg *registrytest.Registry, repo, tag string) bool {
	t.Helper()
	_, err := reg.HeadManifest(repo, tag)
	if err != nil && registrytest.StatusCode(err) != 404 {
		t.Fatal(err)
	}
	return err == nil
}

func TestDeleteDryRunThenYes(t *testing.T) {
	reg := deleteRegistry(t)
	cands := writeFile(t, "c.csv", "repo,tag,reason\napp,v1,old\napp,latest,old\napp,nope,old\n")

	out, stderr, err := run(t, "", "delete", "--from", cands, "--root", reg.Root(), "-o", "tsv")
	if err != nil {
		t.Fatalf("delete dry run: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "step\taction\trepo\ttag\tdigest\twhy\tdetail" || len(lines) != 4 {
		t.Fatalf("plan rows =\n%s\nwant a header, one action and two refusals", out)
	}
	if !strings.HasPrefix(lines[1], "1\tdelete-manifest\tapp\tv1\tsha256:") || !strings.Contains(lines[2], "refuse\tapp\tlatest\t\tprotected") || !strings.Contains(lines[3], "not-found") {
		t.Errorf("plan rows =\n%s", out)
	}
	for _, want := range []string{"plan (from a fresh walk of ", "delete 1 tag and 1 manifest", "2 candidates refused", "dry run: nothing was deleted"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr = %q, want it to say %q", stderr, want)
		}
	}
	if !served(t, reg, "app", "v1") {
		t.Fatal("a dry run deleted app:v1")
	}

	jpath := filepath.Join(t.TempDir(), "j.jsonl")
	_, stderr, err = run(t, "", "delete", "--from", cands, "--config", reg.ConfigPath(), "--registry", reg.URL, "--yes", "--journal", jpath)
	if err != nil {
		t.Fatalf("delete --yes: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "deleted: 1 of 1 actions") || !strings.Contains(stderr, "journal: "+jpath) {
		t.Errorf("stderr = %q, want the summary and the journal", stderr)
	}
	if served(t, reg, "app", "v1") || !served(t, reg, "app", "latest") || !served(t, reg, "app", "v2") {
		t.Error("want app:v1 gone, app:latest and app:v2 kept")
	}
	entries, err := journal.ReadFile(jpath)
	if err != nil || !journal.DoneKeys(entries)["delete-manifest app@"+registrytest.Image(registrytest.ImageOptions{Seed: 1}).Digest().String()] {
		t.Errorf("journal = %+v, %v; want the manifest delete done", entries, err)
	}

	// A journal with entries is not overwritten by a new run.
	_, _, err = run(t, "", "delete", "--from", cands, "--root", reg.Root(), "--registry", reg.URL, "--yes", "--journal", jpath)
	if err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("second run on the same journal: error = %v, want one pointing at --resume", err)
	}
}

func TestDeleteUsage(t *testing.T) {
	reg := deleteRegistry(t)
	cands := writeFile(t, "c.csv", "repo,tag\napp,v1\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no list", args: []string{"--root", reg.Root()}, want: "exactly one of --from"},
		{name: "no index", args: []string{"--from", cands}, want: "fresh walk"},
		{name: "yes without a target", args: []string{"--from", cands, "--root", reg.Root(), "--yes"}, want: "--registry URL, or --storage"},
		{name: "storage without confirmation", args: []string{"--from", cands, "--root", reg.Root(), "--storage", "--yes"}, want: "--registry-stopped"},
		{name: "storage without a root", args: []string{"--from", cands, "--db", "x.db", "--storage"}, want: "--storage deletes on the storage"},
		{name: "bad protect", args: []string{"--from", cands, "--root", reg.Root(), "--protect", "("}, want: "bad protect pattern"},
		{name: "bad registry URL", args: []string{"--from", cands, "--root", reg.Root(), "--registry", "reg.example.com", "--yes"}, want: "want https://host"},
		{name: "params without a query", args: []string{"--from", cands, "--root", reg.Root(), "-p", "a=b"}, want: "-p sets parameters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := run(t, "", append([]string{"delete"}, tt.args...)...)
			if exitCode(err) != exitUsage || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("delete %v: error = %v (exit %d), want a usage error mentioning %q", tt.args, err, exitCode(err), tt.want)
			}
		})
	}
	if !served(t, reg, "app", "v1") {
		t.Error("a refused command line deleted app:v1")
	}
}

func TestDeleteQueryOnStorage(t *testing.T) {
	reg := deleteRegistry(t)
	args := []string{"delete", "--query", "tags-matching", "-p", "pattern=^v[12]$", "-p", "repo=^app$", "--root", reg.Root(), "--storage", "--registry-stopped"}

	out, stderr, err := run(t, "", append(args, "-o", "json")...)
	if err != nil {
		t.Fatalf("delete --query dry run: %v\n%s", err, stderr)
	}
	var got struct {
		Plan struct {
			Actions []struct {
				Action, Repo string
				Tags         []string
			}
		}
		Summary *struct{}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("-o json output is not JSON: %v\n%s", err, out)
	}
	if len(got.Plan.Actions) != 2 || got.Summary != nil {
		t.Fatalf("plan = %+v, want two manifest deletions and no summary", got)
	}

	out, stderr, err = run(t, "", append(args, "--yes", "-o", "json", "--journal", filepath.Join(t.TempDir(), "j.jsonl"))...)
	if err != nil {
		t.Fatalf("delete --query --storage --yes: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, `"deleted": 2`) {
		t.Errorf("summary = %s, want 2 deleted", out)
	}
	tags, err := reg.Tags("app")
	if err != nil || !slices.Equal(tags, []string{"latest", "v3"}) {
		t.Errorf("app tags after = %v, %v; want latest, v3", tags, err)
	}
}

func TestDeleteEmptiesRepo(t *testing.T) {
	reg := deleteRegistry(t)
	cands := writeFile(t, "c.json", `[{"repo":"lone","tag":"v1"}]`)
	jpath := filepath.Join(t.TempDir(), "j.jsonl")
	_, stderr, err := run(t, "", "delete", "--from", cands, "--root", reg.Root(), "--registry", reg.URL, "--yes", "--journal", jpath)
	if err == nil || !strings.Contains(err.Error(), "--allow-empty-repos") || !strings.Contains(stderr, "EVERY tag of lone") {
		t.Fatalf("delete emptying a repo: error = %v, stderr %q; want a refusal naming --allow-empty-repos", err, stderr)
	}
	if !served(t, reg, "lone", "v1") {
		t.Fatal("lone:v1 deleted without --allow-empty-repos")
	}
	if _, err := os.Stat(jpath); !os.IsNotExist(err) {
		t.Errorf("a run that did nothing left a journal: %v", err)
	}
	if _, stderr, err := run(t, "", "delete", "--from", cands, "--root", reg.Root(), "--registry", reg.URL, "--yes", "--journal", jpath, "--allow-empty-repos"); err != nil {
		t.Fatalf("delete --allow-empty-repos: %v\n%s", err, stderr)
	}
	if served(t, reg, "lone", "v1") {
		t.Error("lone:v1 still served after --allow-empty-repos")
	}
}

// TestDeleteResume fails a run halfway (a proxy refuses one manifest's
// DELETE with 503s), then finishes it with --resume against the registry.
func TestDeleteResume(t *testing.T) {
	reg := deleteRegistry(t)
	v2 := registrytest.Image(registrytest.ImageOptions{Seed: 2}).Digest()
	target, _ := url.Parse(reg.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, v2.String()) {
			http.Error(w, `{"errors":[{"code":"UNAVAILABLE"}]}`, http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	cands := writeFile(t, "c.csv", "repo,tag\napp,v1\napp,v2\n")
	jpath := filepath.Join(t.TempDir(), "j.jsonl")
	_, stderr, err := run(t, "", "delete", "--from", cands, "--root", reg.Root(), "--registry", proxy.URL, "--yes", "--journal", jpath, "--retries", "1")
	if exitCode(err) != exitError || !strings.Contains(err.Error(), "--resume "+jpath) {
		t.Fatalf("delete through the failing proxy: error = %v, want exit 1 pointing at --resume\n%s", err, stderr)
	}
	if served(t, reg, "app", "v1") || !served(t, reg, "app", "v2") {
		t.Fatal("want app:v1 gone and app:v2 left by the failed run")
	}

	// The journal remembers --root; --registry says where to go now.
	_, stderr, err = run(t, "", "delete", "--resume", jpath, "--registry", reg.URL)
	if err != nil {
		t.Fatalf("delete --resume: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "resuming: 1 actions done before") || !strings.Contains(stderr, "deleted: 1 of 1 actions") {
		t.Errorf("resume stderr = %q, want 1 done before and 1 now", stderr)
	}
	if served(t, reg, "app", "v2") {
		t.Error("app:v2 still served after --resume")
	}
	entries, err := journal.ReadFile(jpath)
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	for _, e := range entries {
		if e.Action == "delete-run" && e.State == journal.Planned {
			runs++
		}
	}
	if runs != 2 {
		t.Errorf("journal holds %d runs, want 2 (the resume appends)", runs)
	}
}
