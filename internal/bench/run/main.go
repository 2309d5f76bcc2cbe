// Command run is `make bench`'s driver: for each tree size it generates (or
// reuses) a storage tree, then measures regsql index, distribution's
// MarkAndSweep dry run and the floor reference on the same warm tree, each
// in its own process, and prints the medians.
//
//	run -bin DIR [-cache DIR] [-sizes "small medium"] [-runs 3] [-large-runs 1]
//
// DIR holds the regsql, gcdry and floor binaries (the Makefile builds
// them).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/regsql/regsql/internal/bench"
)

func main() {
	bin := flag.String("bin", ".bench/bin", "directory of the regsql, gcdry and floor binaries")
	cache := flag.String("cache", ".bench/trees", "directory of the generated trees, reused while their parameters match")
	sizes := flag.String("sizes", "small medium", "tree presets to measure, space separated")
	runs := flag.Int("runs", 3, "measured runs of each program per tree; the median is printed")
	largeRuns := flag.Int("large-runs", 1, "measured runs on the large tree")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *bin, *cache, strings.Fields(*sizes), *runs, *largeRuns); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type row struct {
	tree             bench.Tree
	index, gc, floor bench.Run
	dbBytes          int64
	runs             int
}

func run(ctx context.Context, bin, cache string, sizes []string, runs, largeRuns int) error {
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	out := filepath.Join(filepath.Dir(cache), "db")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create database directory: %w", err)
	}
	regsql, gcdry, floor := filepath.Join(bin, "regsql"), filepath.Join(bin, "gcdry"), filepath.Join(bin, "floor")
	loadBefore := loadAvg()
	var rows []row
	for _, size := range sizes {
		t, err := bench.EnsureTree(ctx, cache, size, logf)
		if err != nil {
			return err
		}
		n := runs
		if size == "large" {
			n = largeRuns
		}
		db := filepath.Join(out, size+".db")
		programs := []struct {
			name string
			path string
			args []string
			runs []bench.Run
		}{
			{name: "floor", path: floor, args: []string{"-root", t.Dir}},
			{name: "regsql index", path: regsql, args: []string{"index", "--quiet", "--root", t.Dir, "--db", db}},
			{name: "gc dry run", path: gcdry, args: []string{"-root", t.Dir}},
		}
		// Warm the page cache (and the kernel's dentries) before measuring.
		logf("%s: warming up", size)
		for _, p := range programs[:2] {
			if _, err := bench.Measure(ctx, p.path, p.args...); err != nil {
				return err
			}
		}
		for i := range n {
			for j := range programs {
				p := &programs[j]
				r, err := bench.Measure(ctx, p.path, p.args...)
				if err != nil {
					return err
				}
				logf("%s run %d/%d: %-12s %8.2fs %6.0f MB", size, i+1, n, p.name, r.Wall.Seconds(), mb(r.MaxRSS))
				p.runs = append(p.runs, r)
			}
		}
		fi, err := os.Stat(db)
		if err != nil {
			return fmt.Errorf("stat index: %w", err)
		}
		rows = append(rows, row{
			tree: t, floor: bench.Median(programs[0].runs), index: bench.Median(programs[1].runs),
			gc: bench.Median(programs[2].runs), dbBytes: fi.Size(), runs: n,
		})
	}
	fmt.Printf("\nload average before: %s, after: %s; %d CPUs\n\n", loadBefore, loadAvg(), numCPU())
	fmt.Println("| tree | manifests | link files | files+dirs | runs | regsql index | RSS | GC dry run | RSS | GC ÷ index | floor | RSS | index ÷ floor | db |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		s := r.tree.Stats
		fmt.Printf("| %s | %d | %d | %d | %d | %.2f s | %.0f MB | %.2f s | %.0f MB | **%.1f×** | %.2f s | %.0f MB | %.1f× | %.0f MB |\n",
			r.tree.Preset, s.Manifests, s.LinkFiles, s.Files+s.Dirs, r.runs,
			r.index.Wall.Seconds(), mb(r.index.MaxRSS), r.gc.Wall.Seconds(), mb(r.gc.MaxRSS),
			r.gc.Wall.Seconds()/r.index.Wall.Seconds(),
			r.floor.Wall.Seconds(), mb(r.floor.MaxRSS), r.index.Wall.Seconds()/r.floor.Wall.Seconds(),
			mb(r.dbBytes))
	}
	return nil
}

func mb(n int64) float64 { return float64(n) / 1e6 }

// loadAvg is the first three fields of /proc/loadavg, or "?" elsewhere.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func numCPU() int { return runtime.NumCPU() }
