// Command run is `make bench`'s driver: for each tree size it generates (or
// reuses) a storage tree, then measures regsql index, distribution's
// MarkAndSweep dry run and the floor reference on the same warm tree, each
// in its own process, and prints the medians. On the index it built, it
// times every built-in report (bench.MeasureReports). Then, on each tree,
// it measures an incremental regsql index after a change of -change of the
// repositories (gen.ChangeTree, undone afterwards) beside a full index of
// the changed tree. Last, for each of -s3-sizes, it uploads the tree
// (once; kept in .bench/s3) into a bucket of a local S3 server (versitygw,
// built by `make tools`) and measures regsql index and MarkAndSweep on that
// bucket, with the requests each made, counted by a proxy in front of the
// server.
//
//	run -bin DIR [-cache DIR] [-sizes "small medium"] [-runs 3] [-large-runs 1] [-change 0.01] [-s3-sizes medium] [-s3-runs 1]
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

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/internal/bench"
	"github.com/regsql/regsql/internal/gen"
)

func main() {
	bin := flag.String("bin", ".bench/bin", "directory of the regsql, gcdry and floor binaries")
	cache := flag.String("cache", ".bench/trees", "directory of the generated trees, reused while their parameters match")
	sizes := flag.String("sizes", "small medium", "tree presets to measure, space separated")
	runs := flag.Int("runs", 3, "measured runs of each program per tree; the median is printed")
	largeRuns := flag.Int("large-runs", 1, "measured runs on the large tree")
	change := flag.Float64("change", 0.01, "fraction of the repositories changed before the incremental index (0: not measured)")
	s3Sizes := flag.String("s3-sizes", "medium", "tree presets to measure on S3, space separated")
	s3Runs := flag.Int("s3-runs", 1, "measured runs of each program per tree on S3")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *bin, *cache, strings.Fields(*sizes), *runs, *largeRuns, *change); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if err := runS3(ctx, *bin, *cache, strings.Fields(*s3Sizes), *s3Runs); err != nil {
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

func run(ctx context.Context, bin, cache string, sizes []string, runs, largeRuns int, change float64) error {
	if len(sizes) == 0 {
		return nil
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	out := filepath.Join(filepath.Dir(cache), "db")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create database directory: %w", err)
	}
	regsql, gcdry, floor := filepath.Join(bin, "regsql"), filepath.Join(bin, "gcdry"), filepath.Join(bin, "floor")
	loadBefore := loadAvg()
	var (
		rows    []row
		incRows []incRow
		reports []sizeReports
	)
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
			{name: "regsql index", path: regsql, args: []string{"index", "--quiet", "--full", "--root", t.Dir, "--db", db}},
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
		logf("%s: built-in reports", size)
		timings, err := bench.MeasureReports(ctx, db, reportRunsPerTree)
		if err != nil {
			return err
		}
		reports = append(reports, sizeReports{size: size, timings: timings, dbBytes: fi.Size()})
		if change > 0 {
			r, err := measureIncremental(ctx, regsql, out, t, change, n, logf)
			if err != nil {
				return err
			}
			incRows = append(incRows, r)
		}
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
	if len(incRows) > 0 {
		fmt.Printf("\nincremental regsql index after a change of %.0f%% of the repositories, beside a full index of the changed tree:\n\n", change*100)
		fmt.Println("| tree | runs | repos changed | blobs added | repos read | full index | RSS | incremental | RSS | full ÷ incremental |")
		fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, r := range incRows {
			fmt.Printf("| %s | %d | %d | %d | %d | %.2f s | %.0f MB | %.2f s | %.0f MB | **%.1f×** |\n",
				r.tree.Preset, r.runs, r.change.Repos, r.change.Blobs, r.read,
				r.full.Wall.Seconds(), mb(r.full.MaxRSS), r.incr.Wall.Seconds(), mb(r.incr.MaxRSS),
				r.full.Wall.Seconds()/r.incr.Wall.Seconds())
		}
	}
	printReports(reports)
	return nil
}

// reportRunsPerTree is how many times each built-in report runs on each
// tree's index; the median is printed.
const reportRunsPerTree = 3

// sizeReports are the built-in reports' timings on one tree's index.
type sizeReports struct {
	size    string
	timings []bench.ReportTiming
	dbBytes int64
}

// printReports prints a table of every built-in report's median wall and
// CPU time on each tree's index, one column pair per tree.
func printReports(reports []sizeReports) {
	if len(reports) == 0 {
		return
	}
	fmt.Printf("\nbuilt-in reports on each tree's index, median of %d runs (wall / CPU, rows):\n\n", reportRunsPerTree)
	fmt.Print("| report |")
	for _, r := range reports {
		fmt.Printf(" %s (%.0f MB) |", r.size, mb(r.dbBytes))
	}
	fmt.Print("\n|---|")
	for range reports {
		fmt.Print("---:|")
	}
	fmt.Println()
	for i, t := range reports[0].timings {
		fmt.Printf("| %s |", t.Report)
		for _, r := range reports {
			x := r.timings[i]
			fmt.Printf(" %.2f s / %.2f s, %d |", x.Wall.Seconds(), x.CPU.Seconds(), x.Rows)
		}
		fmt.Println()
	}
}

// incRow is an incremental index measured on one tree.
type incRow struct {
	tree       bench.Tree
	change     gen.ChurnStats
	read       int
	full, incr bench.Run
	runs       int
}

// measureIncremental measures, runs times: a full index of tree t (not
// measured: the index to update), a change of the tree, an incremental
// index of the change and a full index of the changed tree; then it checks
// that both indexes count the same and reverts the change.
func measureIncremental(ctx context.Context, regsql, out string, t bench.Tree, fraction float64, runs int, logf func(string, ...any)) (incRow, error) {
	r := incRow{tree: t, runs: runs}
	incDB, fullDB := filepath.Join(out, t.Preset+"-incremental.db"), filepath.Join(out, t.Preset+"-changed.db")
	index := func(db string, args ...string) (bench.Run, error) {
		return bench.Measure(ctx, regsql, append([]string{"index", "--quiet", "--root", t.Dir, "--db", db}, args...)...)
	}
	var fulls, incrs []bench.Run
	for i := range runs {
		if _, err := index(incDB, "--full"); err != nil {
			return r, err
		}
		c, err := bench.ChangeTree(t, fraction, 1)
		if err != nil {
			return r, err
		}
		r.change = c.Stats()
		incr, full, read, err := measureChanged(ctx, index, incDB, fullDB)
		if rerr := c.Revert(); rerr != nil && err == nil {
			err = rerr
		}
		if err != nil {
			return r, err
		}
		logf("%s run %d/%d: incremental %6.2fs %4.0f MB (%d repos read), full %6.2fs %4.0f MB",
			t.Preset, i+1, runs, incr.Wall.Seconds(), mb(incr.MaxRSS), read, full.Wall.Seconds(), mb(full.MaxRSS))
		r.read = read
		incrs, fulls = append(incrs, incr), append(fulls, full)
	}
	r.incr, r.full = bench.Median(incrs), bench.Median(fulls)
	return r, nil
}

// measureChanged runs the incremental and the full index of a changed
// tree, and checks that they agree.
func measureChanged(ctx context.Context, index func(string, ...string) (bench.Run, error), incDB, fullDB string) (incr, full bench.Run, read int, err error) {
	if incr, err = index(incDB); err != nil {
		return
	}
	if full, err = index(fullDB, "--full"); err != nil {
		return
	}
	a, mode, read, err := latestScan(ctx, incDB)
	if err != nil {
		return
	}
	b, _, _, err := latestScan(ctx, fullDB)
	if err != nil {
		return
	}
	if mode != "incremental" {
		err = fmt.Errorf("the index of the changed tree was not incremental")
		return
	}
	if a != b {
		err = fmt.Errorf("the incremental index counts %+v, the full one %+v", a, b)
	}
	return
}

// latestScan returns the counts of an index's latest scan, its mode and
// how many repositories it read.
func latestScan(ctx context.Context, path string) (counts string, mode string, read int, err error) {
	db, err := index.Open(ctx, path)
	if err != nil {
		return "", "", 0, err
	}
	defer db.Close()
	s, err := db.Scan(ctx)
	if err != nil {
		return "", "", 0, err
	}
	err = db.SQLX().QueryRowContext(ctx, `SELECT mode, repos_read FROM scans ORDER BY id DESC LIMIT 1`).Scan(&mode, &read)
	if err != nil {
		return "", "", 0, fmt.Errorf("read scan of %q: %w", path, err)
	}
	counts = fmt.Sprintf("%d repos, %d tags, %d revisions, %d manifests, %d blobs of %d bytes, %d layer links, %d uploads, %d problems",
		s.Repos, s.Tags, s.Revisions, s.Manifests, s.Blobs, s.BlobBytes, s.LayerLinks, s.Uploads, s.Problems)
	return counts, mode, read, nil
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
