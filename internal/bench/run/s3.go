package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/regsql/regsql/internal/bench"
	"github.com/regsql/regsql/internal/s3test"
)

// s3Row is one tree measured on S3: each program's median run and the
// requests of its last run.
type s3Row struct {
	tree              bench.Tree
	index, gc         bench.Run
	indexReqs, gcReqs map[string]int64
	runs              int
}

// runS3 measures regsql index and the registry's GC dry run on each tree
// served as an S3 bucket, in turn, and prints their medians and requests.
func runS3(ctx context.Context, bin, cache string, sizes []string, runs int) error {
	if len(sizes) == 0 {
		return nil
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	s3, err := bench.StartS3(filepath.Join(filepath.Dir(cache), "s3"))
	if err != nil {
		return fmt.Errorf("start the S3 server (make tools builds it): %w", err)
	}
	defer s3.Close()
	out := filepath.Join(filepath.Dir(cache), "db")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create database directory: %w", err)
	}
	loadBefore := loadAvg()
	var rows []s3Row
	for _, size := range sizes {
		t, err := bench.EnsureTree(ctx, cache, size, logf)
		if err != nil {
			return err
		}
		config, err := s3.Serve(ctx, t, logf)
		if err != nil {
			return err
		}
		s3DB := filepath.Join(out, size+"-s3.db")
		programs := []struct {
			name string
			path string
			args []string
			runs []bench.Run
			reqs map[string]int64
		}{
			{name: "regsql index", path: filepath.Join(bin, "regsql"), args: []string{"index", "--quiet", "--config", config, "--db", s3DB}},
			{name: "gc dry run", path: filepath.Join(bin, "gcdry"), args: []string{"-config", config}},
		}
		// The server reads the bucket from the page cache, warm from here on.
		logf("%s on S3: warming up", size)
		if _, err := bench.Measure(ctx, programs[0].path, programs[0].args...); err != nil {
			return err
		}
		s3.Requests()
		for i := range runs {
			for j := range programs {
				p := &programs[j]
				r, err := bench.Measure(ctx, p.path, p.args...)
				if err != nil {
					return err
				}
				p.reqs = s3.Requests()
				logf("%s on S3 run %d/%d: %-12s %8.2fs %6.0f MB  %s", size, i+1, runs, p.name, r.Wall.Seconds(), mb(r.MaxRSS), formatRequests(p.reqs))
				p.runs = append(p.runs, r)
			}
		}
		if err := checkAgainstTree(ctx, programs[0].path, out, t, s3DB, logf); err != nil {
			return err
		}
		rows = append(rows, s3Row{
			tree: t, index: bench.Median(programs[0].runs), gc: bench.Median(programs[1].runs),
			indexReqs: programs[0].reqs, gcReqs: programs[1].reqs, runs: runs,
		})
	}
	fmt.Printf("\nS3 (versitygw on 127.0.0.1, the tree uploaded into a bucket); load average before: %s, after: %s; %d CPUs\n\n", loadBefore, loadAvg(), numCPU())
	fmt.Println("| tree on S3 | manifests | keys | runs | regsql index | RSS | requests | GC dry run | RSS | requests | GC ÷ index | GC requests ÷ index |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|")
	for _, r := range rows {
		s := r.tree.Stats
		fmt.Printf("| %s | %d | %d | %d | %.2f s | %.0f MB | %s | %.2f s | %.0f MB | %s | **%.1f×** | **%.1f×** |\n",
			r.tree.Preset, s.Manifests, s.Files, r.runs,
			r.index.Wall.Seconds(), mb(r.index.MaxRSS), formatRequests(r.indexReqs),
			r.gc.Wall.Seconds(), mb(r.gc.MaxRSS), formatRequests(r.gcReqs),
			r.gc.Wall.Seconds()/r.index.Wall.Seconds(),
			float64(total(r.gcReqs))/float64(total(r.indexReqs)))
	}
	return nil
}

// checkAgainstTree indexes the tree a bucket was uploaded from, as a
// directory, and checks that the index of the bucket in s3DB counts the
// same repositories, tags, revisions, manifests, blobs and bytes, layer
// links, uploads and problems: the S3 walk reads a small part of what the
// directory walk reads, and must still find the same registry.
func checkAgainstTree(ctx context.Context, regsql, out string, t bench.Tree, s3DB string, logf func(string, ...any)) error {
	dirDB := filepath.Join(out, t.Preset+"-s3-check.db")
	if _, err := bench.Measure(ctx, regsql, "index", "--quiet", "--full", "--root", t.Dir, "--db", dirDB); err != nil {
		return err
	}
	got, _, _, err := latestScan(ctx, s3DB)
	if err != nil {
		return err
	}
	want, _, _, err := latestScan(ctx, dirDB)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("the index of the %s tree's bucket counts %s, the index of the tree itself %s", t.Preset, got, want)
	}
	logf("%s on S3: the index counts what the tree's counts: %s", t.Preset, got)
	return nil
}

// total is every request forwarded to the server.
func total(reqs map[string]int64) int64 {
	var n int64
	for k, v := range reqs {
		if k != s3test.KindInjected {
			n += v
		}
	}
	return n
}

// formatRequests says "12345 (209 list, 12136 get)".
func formatRequests(reqs map[string]int64) string {
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(reqs)) {
		kinds = append(kinds, fmt.Sprintf("%d %s", reqs[k], k))
	}
	return fmt.Sprintf("%d (%s)", total(reqs), strings.Join(kinds, ", "))
}
