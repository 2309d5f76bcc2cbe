package bench

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/queries"
	"github.com/regsql/regsql/queries/builtin"
)

// ReportTiming is one built-in report run on an index.
type ReportTiming struct {
	Report string // its name, and the parameters when not its defaults
	Rows   int
	Wall   time.Duration // median of the runs
	CPU    time.Duration // median of the runs, user and system time of this process
}

// reportRun is a built-in report with the parameters it is run with.
type reportRun struct {
	name   string
	params map[string]string
}

// reportRuns are every report of lib with its defaults, and a few with
// the parameters a user would give: the heavier variants.
func reportRuns(lib *queries.Library) []reportRun {
	var runs []reportRun
	for _, q := range lib.List() {
		params := map[string]string{}
		switch q.Name {
		case "tags-matching":
			params["pattern"] = "^sha-" // the generator's CI tags
		case "reclaimable":
			continue // run on the old-tags list, below
		}
		runs = append(runs, reportRun{q.Name, params})
	}
	return append(runs,
		reportRun{"old-tags", map[string]string{"by_created": "1", "keep": "3", "older_than": "30d"}},
		reportRun{"untagged-manifests", map[string]string{"keep_referrers": "0", "older_than": "30d"}},
		reportRun{"large-rarely-shared-layers", map[string]string{"min_size": "1000", "limit": "500"}},
		reportRun{"reclaimable", nil},
	)
}

// reclaimableCandidates is how many rows of old-tags reclaimable is run
// on.
const reclaimableCandidates = 100

// MeasureReports runs every built-in report on the index at dbPath, runs
// times each, interleaved, and returns the median wall and CPU time of
// each. reclaimable gets the first reclaimableCandidates rows of old-tags
// as its list. :now is fixed, so that the rows are the same in every run
// and on every day.
func MeasureReports(ctx context.Context, dbPath string, runs int) ([]ReportTiming, error) {
	db, err := index.Open(ctx, dbPath)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	lib, err := queries.Load(builtin.FS())
	if err != nil {
		return nil, fmt.Errorf("load built-in reports: %w", err)
	}
	const now = "1795400000" // 2026-11-23
	bind := func(r reportRun) (string, map[string]string, error) {
		q, ok := lib.Get(r.name)
		if !ok {
			return "", nil, fmt.Errorf("no built-in report %q", r.name)
		}
		p, err := q.Bind(r.params)
		if err != nil {
			return "", nil, err
		}
		p[queries.NowParam] = now
		return q.SQL, p, nil
	}
	candidates, err := oldTagsList(ctx, db, bind)
	if err != nil {
		return nil, err
	}
	reportRuns := reportRuns(lib)
	walls := make([][]time.Duration, len(reportRuns))
	cpus := make([][]time.Duration, len(reportRuns))
	out := make([]ReportTiming, len(reportRuns))
	for range runs {
		for i, r := range reportRuns {
			q, p, err := bind(r)
			if err != nil {
				return nil, err
			}
			if r.name == "reclaimable" {
				p["candidates"] = candidates
			}
			start, cpu0 := time.Now(), cpuTime()
			n, err := countRows(ctx, db, q, p)
			if err != nil {
				return nil, fmt.Errorf("run %s: %w", r.name, err)
			}
			walls[i] = append(walls[i], time.Since(start))
			cpus[i] = append(cpus[i], cpuTime()-cpu0)
			out[i].Rows = n
		}
	}
	for i, r := range reportRuns {
		out[i].Report = r.name
		for _, k := range slices.Sorted(maps.Keys(r.params)) {
			out[i].Report += fmt.Sprintf(" %s=%s", k, r.params[k])
		}
		if r.name == "reclaimable" {
			out[i].Report += fmt.Sprintf(" (%d rows of old-tags)", reclaimableCandidates)
		}
		out[i].Wall, out[i].CPU = medianDuration(walls[i]), medianDuration(cpus[i])
	}
	return out, nil
}

// oldTagsList is the first reclaimableCandidates rows of old-tags, as the
// candidate list reclaimable takes.
func oldTagsList(ctx context.Context, db *index.DB, bind func(reportRun) (string, map[string]string, error)) (string, error) {
	q, p, err := bind(reportRun{name: "old-tags"})
	if err != nil {
		return "", err
	}
	rows, err := db.Query(ctx, q, p)
	if err != nil {
		return "", fmt.Errorf("run old-tags: %w", err)
	}
	defer rows.Close()
	var cs []queries.Candidate
	for rows.Next() && len(cs) < reclaimableCandidates {
		v := rows.Values()
		repo, _ := v[0].(string)
		tag, _ := v[1].(string)
		d, _ := v[2].(string)
		cs = append(cs, queries.Candidate{Repo: repo, Tag: tag, Digest: digest.Digest(d)})
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("run old-tags: %w", err)
	}
	return queries.CandidatesJSON(cs), nil
}

func countRows(ctx context.Context, db *index.DB, q string, p map[string]string) (int, error) {
	rows, err := db.Query(ctx, q, p)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

// cpuTime is the user and system time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func medianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
