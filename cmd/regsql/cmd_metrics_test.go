package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestMetricsCommand(t *testing.T) {
	db := indexSample(t)
	out, stderr, err := run(t, "", "metrics", "--db", db)
	if err != nil {
		t.Fatalf("metrics: %v\n%s", err, stderr)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(out))
	if err != nil {
		t.Fatalf("metrics output does not parse: %v\n%s", err, out)
	}
	want, _, err := run(t, "", "query", "--db", db, "-o", "tsv", "SELECT r.name, count(t.name) FROM repos r LEFT JOIN tags t ON t.repo_id = r.id WHERE r.listed GROUP BY r.name ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	got := "name\tcount(t.name)\n"
	for _, m := range mfs["repository_tags_total"].GetMetric() {
		got += fmt.Sprintf("%s\t%d\n", m.GetLabel()[0].GetValue(), int(m.GetGauge().GetValue()))
	}
	if got != want {
		t.Errorf("repository_tags_total =\n%s\nwant (SQL)\n%s", got, want)
	}
	if _, _, err := run(t, "", "metrics", "--db", filepath.Join(t.TempDir(), "none.db")); err == nil || exitCode(err) != exitError {
		t.Errorf("metrics without an index: error = %v, want exit %d", err, exitError)
	}
}

// TestServeCommand serves the sample registry's metrics, indexing it at
// start, and stops on cancel.
func TestServeCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "serve.db")
	var stderr lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		app := newApp(strings.NewReader(""), &bytes.Buffer{}, &stderr)
		done <- app.RunContext(ctx, []string{"regsql", "serve", "--addr", "127.0.0.1:0", "--root", sample, "--db", db, "--reindex", "0"})
	}()
	addr := regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`)
	deadline := time.Now().Add(30 * time.Second)
	var body string
	for {
		if base := addr.FindString(stderr.String()); base != "" {
			if resp, err := http.Get(base + "/metrics"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					body = string(b)
					break
				}
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve never served metrics: %q", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(body, `repository_tags_total{repository="team/api"}`) || !strings.Contains(body, "regsql_reindex_runs_total 1") {
		t.Errorf("GET /metrics = %q, want the sample's tags and one re-index", body)
	}
	resp, err := http.Get(addr.FindString(stderr.String()) + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz = %v, %v; want 200", resp, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	if !strings.Contains(stderr.String(), "re-indexed in ") {
		t.Errorf("stderr = %q, want the re-index logged", stderr.String())
	}
}

func TestServeUsage(t *testing.T) {
	_, _, err := run(t, "", "serve", "--addr", "127.0.0.1:0", "--root", sample, "--config", "x.yml")
	if err == nil || exitCode(err) != exitUsage {
		t.Errorf("serve --root --config: error = %v, want exit %d", err, exitUsage)
	}
}
