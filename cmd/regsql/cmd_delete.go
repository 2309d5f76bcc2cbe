package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/urfave/cli/v2"

	"github.com/regsql/regsql/deleter"
	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/internal/journal"
	"github.com/regsql/regsql/queries"
	"github.com/regsql/regsql/walker"
)

type deleteOptions struct {
	From    string
	Query   string
	Params  []string
	Resume  string
	Root    string
	Config  string
	DB      string
	DBSet   bool
	Output  string
	Quiet   bool
	Journal string

	Registry string
	Storage  bool
	Yes      bool

	Protect         []string
	UnprotectLatest bool
	WithReferrers   bool
	AllowEmptyRepos bool

	RegistryStopped bool
	UploadGrace     string

	Concurrency int
	RPS         float64
	Retries     int
	Insecure    bool
}

func deleteCommand(e *env) *cli.Command {
	var o deleteOptions
	params := &cli.StringSliceFlag{Name: "param", Aliases: []string{"p"}, Usage: "with --query: set a parameter, `NAME=VALUE` (repeatable)"}
	protect := &cli.StringSliceFlag{Name: "protect", Usage: "never delete a tag matching this Go `REGEX`, by name or as repo:tag, nor a manifest it names (repeatable; ^latest$ is always added unless --unprotect-latest)"}
	qflag := queriesFlag()
	return &cli.Command{
		Name:  "delete",
		Usage: "delete a candidate list safely: plan (the default), then with --yes delete through the API or on storage",
		UsageText: `regsql delete (--from FILE | --query NAME [-p NAME=VALUE]...) (--root DIR | --config FILE | --db FILE)
       [--yes (--registry URL | --storage --registry-stopped)] [--protect REGEX]... [--with-referrers]
       [--allow-empty-repos] [--journal FILE] [-o FORMAT]
   regsql delete --resume JOURNAL [--root DIR | --config FILE] [--registry URL | --storage --registry-stopped]`,
		Description: `Plans the deletion of a candidate list (a file from "regsql run ... -o csv", or a
saved query of kind candidates run here) against a fresh index, and prints what
goes, what is refused and why, and what the registry's garbage collector frees
afterwards. Nothing is deleted without --yes.

The plan: a tag whose manifest another tag keeps is deleted as a tag; a manifest
goes when every tag on it is a candidate (or it is asked for by digest and all
its tags are), with the children of a deleted index that nothing else keeps and,
with --with-referrers, its signatures and SBOMs. Refused: stale rows (the tag
names another digest than the list says), protected tags, manifests whose
deletion would take tags that are not candidates, children of indexes that
stay. A plan that deletes every tag of a repository, or nothing, needs
--allow-empty-repos.

Where the plan comes from: --root or --config walks the storage into a fresh
index first (always; it is thrown away after). --db plans from an existing
index, and says how old it is: what was pushed since is unknown to the plan.

Where it deletes (with --yes): --registry URL through the registry's API
(storage.delete.enabled must be true; credentials from the docker config), or
--storage on the storage given by --root/--config, for a registry that is
stopped or read-only: say so with --registry-stopped. The storage executor
still refuses to run if an upload was active within --upload-grace.

Every action is journaled (--journal, default regsql-delete-<time>.jsonl). Ctrl-C
stops after the requests in flight; --resume JOURNAL finishes the run, checking
what is left against a fresh index when --root/--config is known. Space comes
back only after a garbage collection: run "regsql gc" next.

Examples:
   regsql delete --from candidates.csv --root /var/lib/registry
   regsql delete --from candidates.csv --config /etc/docker/registry/config.yml --registry https://reg.example.com --yes
   regsql delete --query old-tags -p keep=5 --config /etc/docker/registry/config.yml --storage --registry-stopped --yes
   regsql delete --resume regsql-delete-20240115T120000Z.jsonl`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "the candidate list `FILE` (csv, json or jsonl; - for standard input)", Destination: &o.From},
			&cli.StringFlag{Name: "query", Usage: "run the saved query `NAME` (kind candidates) on the fresh index for the candidate list", Destination: &o.Query},
			params,
			qflag,
			&cli.StringFlag{Name: "resume", Usage: "finish the interrupted run the journal `FILE` records", Destination: &o.Resume},
			&cli.StringFlag{Name: "root", Usage: "the registry's storage `DIR`: plan from a fresh walk of it (and delete on it with --storage)", Destination: &o.Root},
			&cli.StringFlag{Name: "config", Usage: "the registry's config.yml `FILE`: plan from a fresh walk of its storage (and delete on it with --storage)", Destination: &o.Config},
			dbFlag(&o.DB),
			&cli.StringFlag{Name: "registry", Usage: "delete through the API of the registry at `URL` (https://host[:port], or http://)", Destination: &o.Registry},
			&cli.BoolFlag{Name: "storage", Usage: "delete on the storage (--root/--config) instead of through the API", Destination: &o.Storage},
			&cli.BoolFlag{Name: "yes", Usage: "delete what the plan says (without it: print the plan only)", Destination: &o.Yes},
			protect,
			&cli.BoolFlag{Name: "unprotect-latest", Usage: "do not add ^latest$ to the protect patterns", Destination: &o.UnprotectLatest},
			&cli.BoolFlag{Name: "with-referrers", Usage: "also delete the referrers (signatures, SBOMs) of every deleted manifest", Destination: &o.WithReferrers},
			&cli.BoolFlag{Name: "allow-empty-repos", Usage: "go ahead with a plan that deletes every tag of a repository, or nothing", Destination: &o.AllowEmptyRepos},
			&cli.BoolFlag{Name: "registry-stopped", Usage: "with --storage: confirm no registry writes to this storage (stopped, or read-only)", Destination: &o.RegistryStopped},
			&cli.StringFlag{Name: "upload-grace", Value: "1h", Usage: "with --storage: refuse if an upload was active within this `DURATION` (0: do not check)", Destination: &o.UploadGrace},
			&cli.StringFlag{Name: "journal", Usage: "write the journal to `FILE` (default: regsql-delete-<time>.jsonl in the current directory)", Destination: &o.Journal},
			&cli.IntFlag{Name: "concurrency", Value: 3, Usage: "`N` deletions in flight at once (and, with --registry, requests)", Destination: &o.Concurrency},
			&cli.Float64Flag{Name: "rps", Usage: "with --registry, or --config on an object store: at most `N` requests per second (0: no limit)", Destination: &o.RPS},
			&cli.IntFlag{Name: "retries", Value: 5, Usage: "with --registry, or --config on an object store: retry a request answered 429 or 5xx, or cut off, `N` times", Destination: &o.Retries},
			&cli.BoolFlag{Name: "insecure", Usage: "with --registry https://: do not verify its TLS certificate", Destination: &o.Insecure},
			outputFlag(&o.Output),
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress and no summary on stderr", Destination: &o.Quiet},
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{fmt.Sprintf("delete takes no arguments, got %q (did you mean --from %s?)", c.Args().First(), c.Args().First())}
			}
			o.Params = params.Get(c)
			o.Protect = protect.Get(c)
			o.DBSet = c.IsSet("db")
			var lib *queries.Library
			if o.Query != "" {
				var err error
				if lib, err = loadLibrary(qflag, c); err != nil {
					return err
				}
			}
			return runDelete(c.Context, e, o, lib)
		},
	}
}

// target is where a run deletes, as the journal records it so that resume
// can default to it.
type target struct {
	Registry string // the API executor's URL
	Storage  bool   // the storage executor on Root or Config
	Root     string // where the plan's index is walked from, and the storage
	Config   string
}

func (t target) String() string {
	v := url.Values{}
	for k, s := range map[string]string{"registry": t.Registry, "root": t.Root, "config": t.Config} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if t.Storage {
		v.Set("storage", "true")
	}
	return v.Encode()
}

func parseTarget(s string) target {
	v, _ := url.ParseQuery(s)
	return target{Registry: v.Get("registry"), Storage: v.Get("storage") == "true", Root: v.Get("root"), Config: v.Get("config")}
}

func runDelete(ctx context.Context, e *env, o deleteOptions, lib *queries.Library) error {
	if err := checkDeleteFlags(o); err != nil {
		return err
	}
	var resumed *deleter.Resumed
	if o.Resume != "" {
		entries, err := journal.ReadFile(o.Resume)
		if err != nil {
			return err
		}
		if resumed, err = deleter.ResumePlan(entries); err != nil {
			return fmt.Errorf("resume %q: %w", o.Resume, err)
		}
		// What the command line does not say, the first run did.
		first := parseTarget(resumed.Target)
		if o.Registry == "" && !o.Storage {
			o.Registry, o.Storage = first.Registry, first.Storage
		}
		if o.Root == "" && o.Config == "" {
			o.Root, o.Config = first.Root, first.Config
		}
		if err := checkDeleteFlags(o); err != nil {
			return err
		}
	}
	tgt := target{Registry: o.Registry, Storage: o.Storage, Root: o.Root, Config: o.Config}
	execute := o.Yes || resumed != nil
	if execute && o.Registry == "" && !o.Storage {
		return usageError{"--yes needs where to delete: --registry URL, or --storage (with --root or --config)"}
	}
	if execute && o.Storage && !o.RegistryStopped {
		return usageError{"--storage deletes under a running registry's feet: stop the registry (or make it read-only) and confirm with --registry-stopped"}
	}
	grace, err := parseDurationFlag("upload-grace", o.UploadGrace)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	quiet := o.Quiet

	// The executor first, so that a bad URL fails before the walk.
	var ex deleter.Executor
	var st walker.Remover
	var driver string
	if o.Root != "" || o.Config != "" {
		if st, driver, err = openStorage(ctx, o.Root, o.Config, o.storeOptions()); err != nil {
			return err
		}
	}
	if execute {
		if o.Storage {
			ex = deleter.NewStorageExecutor(st, deleter.StorageOptions{RegistryStopped: o.RegistryStopped, UploadGrace: grace})
		} else {
			retries := o.Retries
			if retries == 0 {
				retries = -1 // APIOptions reads 0 as its default
			}
			api, err := deleter.NewAPIExecutor(deleter.APIOptions{
				URL: o.Registry, Insecure: o.Insecure, ReqPerSec: o.RPS,
				ReqConcurrent: int64(o.Concurrency), Retries: retries,
			})
			if err != nil {
				return usageError{err.Error()}
			}
			ex = api
		}
	}

	// The plan.
	var p *deleter.Plan
	var source string
	switch {
	case resumed != nil && st == nil:
		p = resumed.Plan
		source = "the journal " + o.Resume + " alone"
		if !quiet {
			fmt.Fprintf(e.stderr, "warning: without --root or --config what is left is not checked against a fresh index; the executor still checks each tag before deleting it\n")
		}
	default:
		db, src, cleanup, err := planningIndex(ctx, e, o, st, driver)
		if err != nil {
			return err
		}
		defer cleanup()
		source = src
		cands, err := deleteCandidates(ctx, e, o, lib, db, resumed)
		if err != nil {
			return err
		}
		opts := deleter.PlanOptions{Protect: o.Protect, WithReferrers: o.WithReferrers}
		if !o.UnprotectLatest {
			opts.Protect = append([]string{deleter.DefaultProtect}, opts.Protect...)
		}
		if resumed != nil {
			opts = resumed.Options
		}
		if p, err = deleter.NewPlan(ctx, db, cands, opts); err != nil {
			if errors.Is(err, deleter.ErrBadProtect) {
				return usageError{err.Error()}
			}
			return err
		}
		if resumed != nil {
			p.MarkResumed(resumed)
		}
	}

	if o.Output != "json" {
		if err := renderDeletePlan(e.stdout, o.Output, p); err != nil {
			return err
		}
	}
	if !quiet {
		describeDeletePlan(e.stderr, p, source, o)
	}
	if !execute {
		sum, err := p.Execute(ctx, nil, nil, deleter.ExecOptions{DryRun: true})
		if err != nil {
			return err
		}
		if o.Output == "json" {
			return writeDeleteJSON(e.stdout, p, nil)
		}
		if !quiet {
			fmt.Fprintf(e.stderr, "dry run: nothing was deleted (%d actions planned). To delete, run again with --yes and --registry URL, or --storage --registry-stopped\n", sum.Actions)
		}
		return nil
	}

	if resumed != nil && len(p.Actions) == 0 {
		if o.Output == "json" {
			return writeDeleteJSON(e.stdout, p, nil)
		}
		if !quiet {
			fmt.Fprintf(e.stderr, "nothing left to do: %d actions of %s are done\n", p.AlreadyDone, o.Resume)
		}
		return nil
	}

	// The run.
	path := o.Journal
	run := time.Now().UTC().Format("20060102T150405Z")
	switch {
	case resumed != nil:
		path = o.Resume
	case path == "":
		path = "regsql-delete-" + run + ".jsonl"
	default:
		if entries, err := journal.ReadFile(path); err == nil && len(entries) > 0 {
			return fmt.Errorf("journal %q: %w (finish that run with --resume %s, or name another --journal)", path, journal.ErrJournalExists, path)
		}
	}
	j, err := journal.Create(path, "delete-"+run)
	if err != nil {
		return err
	}
	finished := make(chan struct{})
	go func() {
		select {
		case <-finished:
		case <-ctx.Done():
			stop() // a second Ctrl-C kills at once
			if !quiet {
				fmt.Fprintln(e.stderr, "\ninterrupted: finishing the requests in flight (Ctrl-C again to abort now)")
			}
		}
	}()
	bar := newDeleteProgress(e.stderr, quiet, len(p.Actions))
	sum, execErr := p.Execute(ctx, ex, j, deleter.ExecOptions{
		AllowEmpty: o.AllowEmptyRepos,
		Workers:    o.Concurrency,
		Target:     tgt.String(),
		Progress:   bar.update,
	})
	close(finished)
	bar.done()
	if err := j.Close(); err != nil && execErr == nil {
		execErr = fmt.Errorf("close journal: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() == 0 {
		os.Remove(path) // the run stopped before its first line: no journal
	}
	if errors.Is(execErr, deleter.ErrEmptyPlan) || errors.Is(execErr, deleter.ErrEmptiesRepos) {
		return fmt.Errorf("%w: nothing was deleted; pass --allow-empty-repos to go ahead", execErr)
	}
	if o.Output == "json" {
		if err := writeDeleteJSON(e.stdout, p, &sum); err != nil {
			return err
		}
	}
	if !quiet {
		describeDeleteSummary(e.stderr, sum, path)
	}
	if errors.Is(execErr, deleter.ErrIncomplete) {
		return fmt.Errorf("%w; finish it with: regsql delete --resume %s", execErr, path)
	}
	return execErr
}

// checkDeleteFlags rejects combinations that cannot mean anything.
func checkDeleteFlags(o deleteOptions) error {
	n := 0
	for _, s := range []string{o.From, o.Query, o.Resume} {
		if s != "" {
			n++
		}
	}
	switch {
	case n != 1:
		return usageError{"delete needs exactly one of --from FILE, --query NAME or --resume JOURNAL"}
	case len(o.Params) > 0 && o.Query == "":
		return usageError{"-p sets parameters of --query NAME"}
	case o.Root != "" && o.Config != "":
		return usageError{"give --root DIR or --config FILE, not both"}
	case o.Registry != "" && o.Storage:
		return usageError{"delete through --registry URL or on --storage, not both"}
	case o.Storage && o.Root == "" && o.Config == "":
		return usageError{"--storage deletes on the storage named by --root DIR or --config FILE"}
	case o.Resume == "" && o.Root == "" && o.Config == "" && !o.DBSet:
		return usageError{"delete plans from a fresh walk of --root DIR or --config FILE (or from an existing index with --db FILE)"}
	case o.Resume != "" && o.Journal != "":
		return usageError{"--resume appends to the journal it reads: --journal does not go with it"}
	case o.Concurrency < 1:
		return usageError{"--concurrency must be at least 1"}
	}
	return nil
}

// storeOptions are the requests to an object store with --config: as many
// in flight as a walk wants (--concurrency is the deletions in flight), at
// most --rps a second, retried --retries times.
func (o deleteOptions) storeOptions() walker.DriverOptions {
	retries := o.Retries
	if retries == 0 {
		retries = -1 // DriverOptions reads 0 as its default
	}
	return walker.DriverOptions{RequestsPerSecond: o.RPS, Retries: retries}
}

func openStorage(ctx context.Context, root, config string, opts walker.DriverOptions) (walker.Remover, string, error) {
	if root != "" {
		st, err := walker.OpenRoot(root)
		if err != nil {
			return nil, "", err
		}
		return st, "filesystem", nil
	}
	st, driver, err := walker.OpenConfig(ctx, config, opts)
	if err != nil {
		return nil, "", err
	}
	return st, driver, nil
}

// planningIndex returns the index to plan from: a fresh walk of st into a
// temporary file when there is a storage, else the --db index.
func planningIndex(ctx context.Context, e *env, o deleteOptions, st walker.Remover, driver string) (*index.DB, string, func(), error) {
	if st == nil {
		db, err := index.Open(ctx, o.DB)
		if err != nil {
			return nil, "", nil, err
		}
		source := "the index " + o.DB
		var built int64
		if err := db.SQLX().QueryRowContext(ctx, `SELECT coalesce(max(finished_at), 0) FROM scans`).Scan(&built); err == nil && built > 0 {
			age := time.Since(time.Unix(built, 0)).Round(time.Second)
			source += fmt.Sprintf(", built %s ago", age)
			if !o.Quiet {
				fmt.Fprintf(e.stderr, "warning: planning from %s: anything pushed since is unknown to the plan (a manifest deleted by digest takes any tag pushed onto it since); give --root or --config to plan from a fresh walk\n", source)
			}
		}
		return db, source, func() { db.Close() }, nil
	}
	dir, err := os.MkdirTemp("", "regsql-delete-")
	if err != nil {
		return nil, "", nil, fmt.Errorf("create a temporary index: %w", err)
	}
	cleanup := func() { os.RemoveAll(dir) }
	where := o.Root
	if where == "" {
		where = o.Config
	}
	bar := newProgressBar(e.stderr, o.Quiet)
	path := filepath.Join(dir, "regsql.db")
	_, err = index.Build(ctx, path, st, index.BuildOptions{Root: where, Driver: driver, Version: version, Progress: bar.update})
	bar.done()
	if err != nil {
		cleanup()
		return nil, "", nil, err
	}
	db, err := index.Open(ctx, path)
	if err != nil {
		cleanup()
		return nil, "", nil, err
	}
	return db, "a fresh walk of " + where, func() { db.Close(); cleanup() }, nil
}

// deleteCandidates reads the candidate list: the file, the saved query run
// on db, or what a resumed journal has left.
func deleteCandidates(ctx context.Context, e *env, o deleteOptions, lib *queries.Library, db *index.DB, resumed *deleter.Resumed) ([]queries.Candidate, error) {
	switch {
	case resumed != nil:
		return resumed.Plan.CandidateList(), nil
	case o.From != "":
		return readCandidateFile(e.stdin, o.From)
	}
	q, err := getQuery(lib, o.Query)
	if err != nil {
		return nil, err
	}
	if q.Kind != queries.KindCandidates {
		return nil, usageError{fmt.Sprintf("query %q is a %s, not a candidate list (kind: candidates)", q.Name, q.Kind)}
	}
	values, err := parseParams(o.Params)
	if err != nil {
		return nil, err
	}
	bound, err := q.Bind(values)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	rs, err := db.Query(ctx, q.SQL, bound)
	if err != nil {
		return nil, fmt.Errorf("run %q: %w", q.Name, err)
	}
	defer rs.Close()
	if err := checkCandidateColumns(q.Name, rs.Columns()); err != nil {
		return nil, err
	}
	col := map[string]int{}
	for i, c := range rs.Columns() {
		col[c] = i
	}
	str := func(v []any, name string) string {
		if i, ok := col[name]; ok && v[i] != nil {
			return text(v[i], "")
		}
		return ""
	}
	var cands []queries.Candidate
	for rs.Next() {
		v := rs.Values()
		c := queries.Candidate{Repo: str(v, "repo"), Tag: str(v, "tag"), Digest: digest.Digest(str(v, "digest")), Reason: str(v, "reason")}
		if i, ok := col["bytes"]; ok {
			if n, ok := v[i].(int64); ok {
				c.Bytes = n
			}
		}
		cands = append(cands, c)
	}
	return cands, rs.Err()
}

// renderDeletePlan writes the plan's actions and refusals as rows.
func renderDeletePlan(w io.Writer, format string, p *deleter.Plan) error {
	t := sliceRows{cols: []string{"step", "action", "repo", "tag", "digest", "why", "detail"}}
	for _, a := range p.Actions {
		tag := a.Tag
		if a.Kind == deleter.DeleteManifest {
			tag = strings.Join(a.Tags, ",")
		}
		t.vals = append(t.vals, []any{int64(a.Step), string(a.Kind), a.Repo, nullable(tag), string(a.Digest), string(a.Why), a.Detail})
	}
	for _, r := range p.Refused {
		c := r.Candidate
		t.vals = append(t.vals, []any{nil, "refuse", c.Repo, nullable(c.Tag), nullable(string(c.Digest)), string(r.Reason), r.Detail})
	}
	_, err := render(w, format, &t)
	return err
}

// writeDeleteJSON writes the plan, and the run's summary if there was one,
// as one JSON object.
func writeDeleteJSON(w io.Writer, p *deleter.Plan, sum *deleter.Summary) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Plan    *deleter.Plan    `json:"plan"`
		Summary *deleter.Summary `json:"summary"`
	}{p, sum})
}

// describeDeletePlan writes the plan's totals and warnings for a person.
func describeDeletePlan(w io.Writer, p *deleter.Plan, source string, o deleteOptions) {
	repos := map[string]bool{}
	for _, a := range p.Actions {
		repos[a.Repo] = true
	}
	inRepos := "1 repository"
	if len(repos) != 1 {
		inRepos = fmt.Sprintf("%d repositories", len(repos))
	}
	fmt.Fprintf(w, "plan (from %s): delete %s and %s in %s",
		source, plural(p.Tags(), "tag"), plural(p.Manifests(), "manifest"), inRepos)
	if p.AlreadyDone > 0 {
		fmt.Fprintf(w, " (resuming: %d actions done before)", p.AlreadyDone)
	}
	if len(p.Refused) > 0 {
		fmt.Fprintf(w, "; %s refused", plural(len(p.Refused), "candidate"))
	}
	if p.Bytes > 0 || p.Manifests() > 0 {
		fmt.Fprintf(w, "; the registry's GC then frees %s (%s)", humanBytes(p.Bytes), plural(p.Blobs, "blob"))
	}
	fmt.Fprintln(w)
	orphans := false
	for _, wn := range p.Warnings {
		if wn.Kind == deleter.WarnEmptiesRepo {
			continue
		}
		orphans = orphans || wn.Kind == deleter.WarnOrphanReferrer
		fmt.Fprintf(w, "warning: %s: %s\n", wn.Repo, wn.Message)
	}
	if orphans && !o.WithReferrers {
		fmt.Fprintln(w, "hint: --with-referrers deletes the referrers of what the plan deletes")
	}
	if len(p.EmptiedRepos) > 0 {
		fmt.Fprintf(w, "WARNING: the plan deletes EVERY tag of %s. Check the list; --allow-empty-repos goes ahead\n", strings.Join(p.EmptiedRepos, ", "))
	}
	if len(p.Actions) == 0 && p.AlreadyDone == 0 {
		fmt.Fprintf(w, "WARNING: the plan deletes NOTHING (%s, all refused or none given): is the list the one you meant?\n", plural(p.Candidates, "candidate"))
	}
}

// describeDeleteSummary writes what a run did for a person.
func describeDeleteSummary(w io.Writer, s deleter.Summary, journalPath string) {
	fmt.Fprintf(w, "deleted: %d of %d actions (%s, %s", s.Deleted, s.Actions, plural(s.Tags, "tag"), plural(s.Manifests, "manifest"))
	if s.Gone > 0 {
		fmt.Fprintf(w, "; %d already gone", s.Gone)
	}
	fmt.Fprintf(w, "); refused %d, failed %d, not attempted %d", s.Refused, s.Failed, s.NotRun)
	if s.AlreadyDone > 0 {
		fmt.Fprintf(w, "; %d done by the run resumed", s.AlreadyDone)
	}
	if s.BytesKnown {
		fmt.Fprintf(w, "; the next GC frees %s (run: regsql gc)", humanBytes(s.Bytes))
	}
	fmt.Fprintf(w, "; journal: %s\n", journalPath)
	for _, r := range s.Results {
		if r.State == journal.Failed || r.Reason != "" {
			fmt.Fprintf(w, "  %s %s: %s\n", r.State, r.Action.Target(), r.Error)
		}
	}
}

// deleteProgress draws the run's progress on stderr, only on a terminal.
type deleteProgress struct {
	*progressBar
	total, n int
}

func newDeleteProgress(w io.Writer, quiet bool, total int) *deleteProgress {
	return &deleteProgress{progressBar: newProgressBar(w, quiet), total: total}
}

func (p *deleteProgress) update(deleter.Result) {
	p.n++ // Execute calls one at a time
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\033[Kdeleting: %d of %d (%.0fs)", p.n, p.total, time.Since(p.start).Seconds())
	p.drawn = true
}
