package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/regsql/regsql/gc"
	"github.com/regsql/regsql/internal/journal"
	"github.com/regsql/regsql/queries"
	"github.com/regsql/regsql/walker"
)

type gcOptions struct {
	Root             string
	Config           string
	DeleteUntagged   bool
	KeepReferrers    bool
	Grace            string
	UploadsOlderThan string
	SweepLayersOnly  bool
	Yes              bool
	Journal          string
	List             bool
	Output           string
	Workers          int
	Quiet            bool
	Store            storeOptions
}

func gcCommand(e *env) *cli.Command {
	var o gcOptions
	return &cli.Command{
		Name:      "gc",
		Usage:     "reclaim the space nothing uses: unreferenced blobs, their layer links, untagged manifests, stale uploads",
		UsageText: "regsql gc (--root DIR | --config FILE) [--delete-untagged] [--keep-referrers=false] [--grace 24h] [--uploads-older-than 168h] [--yes] [--journal FILE] [--list] [-o FORMAT]",
		Description: `Walks the storage, marks what is in use as the registry's own garbage collector
does ("registry garbage-collect"), and lists what to sweep: blobs no manifest
references, the layer links to them, with --delete-untagged the manifest
revisions no tag reaches, and uploads started before --uploads-older-than.
Nothing is removed without --yes: the default is a dry run that prints counts
and bytes per kind (the whole list with --list, or -o json/jsonl).

It avoids that command's known defects: it never aborts on one bad file (what
it cannot judge is kept and reported), keeps blobs written or linked within
--grace (pushes in flight), keeps blobs linked only from directories without
_manifests, keeps repositories without a tags directory whole, and with
--delete-untagged keeps the signatures and SBOMs of kept images
(--keep-referrers=false to delete them, as the registry does). Every removal is
journaled; just before each one the file is looked at again.

The registry may keep serving while gc runs, but gc takes no lock: for full
safety make the registry read-only or stop it (see docs/gc.md).

Durations: seconds, or 30d, 12h, 2w, 1h30m. --uploads-older-than 0 leaves
uploads alone.

Examples:
   regsql gc --config /etc/docker/registry/config.yml
   regsql gc --root /var/lib/registry --delete-untagged --list
   regsql gc --config /etc/docker/registry/config.yml --grace 24h --yes`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "root", Usage: "the registry's storage `DIR` (its rootdirectory, or any directory down to docker/registry/v2)", Destination: &o.Root},
			&cli.StringFlag{Name: "config", Usage: "the registry's config.yml `FILE`; its storage section says where to collect", Destination: &o.Config},
			&cli.BoolFlag{Name: "delete-untagged", Usage: "mark only from tags (through index children) and remove the manifests no tag reaches", Destination: &o.DeleteUntagged},
			&cli.BoolFlag{Name: "keep-referrers", Value: true, Usage: "with --delete-untagged, keep manifests whose subject is kept (signatures, SBOMs)", Destination: &o.KeepReferrers},
			&cli.StringFlag{Name: "grace", Value: "24h", Usage: "keep blobs written or linked, and untagged manifests pushed, within this `DURATION`", Destination: &o.Grace},
			&cli.StringFlag{Name: "uploads-older-than", Value: "168h", Usage: "remove uploads started longer ago than this `DURATION` (0: none)", Destination: &o.UploadsOlderThan},
			&cli.BoolFlag{Name: "sweep-layers-only-repos", Usage: "sweep blobs linked only from directories without _manifests, and those links, as the registry does", Destination: &o.SweepLayersOnly},
			&cli.BoolFlag{Name: "yes", Usage: "remove what the plan lists (without it: a dry run)", Destination: &o.Yes},
			&cli.StringFlag{Name: "journal", Usage: "append the journal of removals to `FILE` (default: regsql-gc-<time>.jsonl in the current directory)", Destination: &o.Journal},
			&cli.BoolFlag{Name: "list", Aliases: []string{"v"}, Usage: "print every removal, not the counts per kind", Destination: &o.List},
			outputFlag(&o.Output),
			&cli.IntFlag{Name: "workers", Usage: "parallel readers (0: sized to the machine)", Destination: &o.Workers},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress and no summary on stderr", Destination: &o.Quiet},
		}, storeFlags(&o.Store)...),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{fmt.Sprintf("gc takes no arguments, got %q", c.Args().First())}
			}
			return runGC(c.Context, e, o)
		},
	}
}

func runGC(ctx context.Context, e *env, o gcOptions) error {
	if (o.Root == "") == (o.Config == "") {
		return usageError{"gc needs exactly one of --root DIR or --config FILE"}
	}
	grace, err := parseDurationFlag("grace", o.Grace)
	if err != nil {
		return err
	}
	uploads, err := parseDurationFlag("uploads-older-than", o.UploadsOlderThan)
	if err != nil {
		return err
	}
	if o.Journal != "" && !o.Yes {
		return usageError{"--journal records removals: it needs --yes"}
	}
	if err := o.Store.check(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()

	var st walker.Remover
	if o.Root != "" {
		ds, err := walker.OpenRoot(o.Root)
		if err != nil {
			return err
		}
		st = ds
	} else {
		ds, _, err := walker.OpenConfig(ctx, o.Config, o.Store.driverOptions())
		if err != nil {
			return err
		}
		st = ds
	}

	bar := newGCProgress(e.stderr, o.Quiet)
	p, err := gc.NewPlan(ctx, st, gc.Options{
		DeleteUntagged:       o.DeleteUntagged,
		KeepReferrers:        o.KeepReferrers,
		Grace:                grace,
		UploadsOlderThan:     uploads,
		SweepLayersOnlyRepos: o.SweepLayersOnly,
		Workers:              o.Workers,
		WalkProgress:         bar.walk,
		RemoveProgress:       bar.remove,
	})
	bar.done()
	if err != nil {
		return err
	}
	if !o.Quiet {
		describePlan(e.stderr, p, o)
		if r := requestSummary(st); r != "" {
			fmt.Fprintf(e.stderr, "storage requests for the plan: %s\n", r)
		}
	}
	if !o.Yes {
		if err := renderPlan(e.stdout, p, o); err != nil {
			return err
		}
		if !o.Quiet && len(p.Items) > 0 {
			fmt.Fprintln(e.stderr, "dry run: nothing was removed; run again with --yes to remove it")
		}
		return nil
	}
	if len(p.Items) == 0 {
		if !o.Quiet {
			fmt.Fprintln(e.stderr, "nothing to remove")
		}
		zero := p.Totals() // every count 0
		return renderSummary(e.stdout, o.Output, gc.Summary{Removed: zero, Skipped: zero, Failed: zero})
	}

	run := time.Now().UTC().Format("20060102T150405Z")
	path := o.Journal
	if path == "" {
		path = "regsql-gc-" + run + ".jsonl"
	}
	j, err := journal.Create(path, "gc-"+run)
	if err != nil {
		return err
	}
	sum, execErr := p.Execute(ctx, st, j)
	bar.done()
	if err := j.Close(); err != nil && execErr == nil {
		execErr = fmt.Errorf("close journal: %w", err)
	}
	if err := renderSummary(e.stdout, o.Output, sum); err != nil {
		return err
	}
	if !o.Quiet {
		describeSummary(e.stderr, sum, path)
		if r := requestSummary(st); r != "" {
			fmt.Fprintf(e.stderr, "storage requests in all: %s\n", r)
		}
	}
	if errors.Is(execErr, context.Canceled) {
		return fmt.Errorf("gc interrupted; the journal %s says what was removed: %w", path, execErr)
	}
	return execErr
}

// parseDurationFlag reads a duration flag as the saved queries' parameters
// do: seconds, or 30d, 12h, 2w, 1h30m.
func parseDurationFlag(name, v string) (time.Duration, error) {
	secs, err := queries.ParseDuration(v)
	if err != nil {
		return 0, usageError{fmt.Sprintf("--%s: %v", name, err)}
	}
	if secs > int64((1<<63-1)/time.Second) {
		return 0, usageError{fmt.Sprintf("--%s: duration %q is too large", name, v)}
	}
	return time.Duration(secs) * time.Second, nil
}

// renderPlan prints the counts per kind, or with --list (or -o json,
// jsonl) every removal.
func renderPlan(w io.Writer, p *gc.Plan, o gcOptions) error {
	if o.List || o.Output == "json" || o.Output == "jsonl" {
		t := sliceRows{cols: []string{"kind", "repo", "digest", "path", "bytes", "time"}}
		for _, it := range p.Items {
			d := string(it.Digest)
			if it.Kind == gc.KindUpload {
				d = it.UUID
			}
			t.vals = append(t.vals, []any{string(it.Kind), nullable(it.Repo), d, it.Path, it.Bytes, it.Time.UTC().Format(time.RFC3339)})
		}
		_, err := render(w, o.Output, &t)
		return err
	}
	t := sliceRows{cols: []string{"kind", "count", "bytes"}}
	for _, tot := range p.Totals() {
		t.vals = append(t.vals, []any{string(tot.Kind), int64(tot.Count), tot.Bytes})
	}
	_, err := render(w, o.Output, &t)
	return err
}

// renderSummary prints what Execute did per kind.
func renderSummary(w io.Writer, format string, s gc.Summary) error {
	t := sliceRows{cols: []string{"kind", "removed", "skipped", "failed", "bytes"}}
	for i, r := range s.Removed {
		t.vals = append(t.vals, []any{string(r.Kind), int64(r.Count), int64(s.Skipped[i].Count), int64(s.Failed[i].Count), r.Bytes})
	}
	_, err := render(w, format, &t)
	return err
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// reasonText says in a few words what a gc.Reason keeps.
var reasonText = map[gc.Reason]string{
	gc.ReasonGrace:          "written within the grace period",
	gc.ReasonRecentLink:     "linked into a repository within the grace period",
	gc.ReasonRecentRevision: "of untagged manifests pushed within the grace period",
	gc.ReasonReferrer:       "of referrers (signatures, SBOMs) of kept images",
	gc.ReasonLayersOnly:     "linked only from directories without _manifests (--sweep-layers-only-repos sweeps them)",
	gc.ReasonHeld:           "of repositories held because something in them could not be judged",
	gc.ReasonNoTagsDir:      "of repositories without a tags directory",
	gc.ReasonMarkIncomplete: "unjudged: part of repositories/ could not be read",
}

// describePlan writes what the plan removes and what it keeps on purpose,
// for a person.
func describePlan(w io.Writer, p *gc.Plan, o gcOptions) {
	var parts []string
	var all int64
	for _, t := range p.Totals() {
		if t.Count == 0 {
			continue
		}
		s := plural(t.Count, strings.ReplaceAll(string(t.Kind), "-", " "))
		if t.Bytes > 0 {
			s += " (" + humanBytes(t.Bytes) + ")"
		}
		parts = append(parts, s)
		all += t.Bytes
	}
	verb := "would free"
	if o.Yes {
		verb = "freeing"
	}
	if len(parts) == 0 {
		fmt.Fprintf(w, "gc: nothing to remove (%s walked, %s)\n", plural(p.Stats.Blobs, "blob"), humanBytes(p.Stats.BlobBytes))
	} else {
		fmt.Fprintf(w, "gc: %s %s: %s\n", verb, humanBytes(all), strings.Join(parts, ", "))
	}

	type kept struct {
		blobs, revisions int
		bytes            int64
	}
	var order []gc.Reason
	by := map[gc.Reason]*kept{}
	for _, r := range p.Retained {
		k := by[r.Reason]
		if k == nil {
			k = &kept{}
			by[r.Reason] = k
			order = append(order, r.Reason)
		}
		if r.Kind == gc.KindBlob {
			k.blobs++
			k.bytes += r.Bytes
		} else {
			k.revisions++
		}
	}
	for _, why := range order {
		k := by[why]
		what := plural(k.blobs, "blob") + " (" + humanBytes(k.bytes) + ")"
		if k.revisions > 0 {
			what = plural(k.revisions, "revision") + " and " + what
		}
		fmt.Fprintf(w, "kept on purpose: %s %s\n", what, reasonText[why])
	}
	for _, h := range p.Held {
		fmt.Fprintf(w, "held: %s: %s\n", h.Repo, h.Reason)
	}
	if p.MarkIncomplete != "" {
		fmt.Fprintf(w, "nothing but uploads is swept: %s\n", p.MarkIncomplete)
	}
	if n := len(p.Problems); n > 0 {
		fmt.Fprintf(w, "the walk met %s; list them with: regsql index, then regsql run problems\n", plural(n, "problem"))
	}
	if !p.LatestUpload.IsZero() && time.Since(p.LatestUpload) < time.Hour {
		fmt.Fprintf(w, "warning: an upload started %s ago: the registry is in use. Blobs written within --grace are kept, but gc takes no lock: make the registry read-only or stop it for full safety\n",
			time.Since(p.LatestUpload).Round(time.Second))
	}
}

// describeSummary writes what Execute did, for a person.
func describeSummary(w io.Writer, s gc.Summary, journalPath string) {
	var removed, skipped, failed int
	var bytes int64
	for i := range s.Removed {
		removed += s.Removed[i].Count
		bytes += s.Removed[i].Bytes
		skipped += s.Skipped[i].Count
		failed += s.Failed[i].Count
	}
	fmt.Fprintf(w, "gc: removed %s, %s freed", plural(removed, "item"), humanBytes(bytes))
	if skipped > 0 {
		fmt.Fprintf(w, "; %d skipped (changed since the plan, or kept with what they depend on)", skipped)
	}
	if failed > 0 {
		fmt.Fprintf(w, "; %d failed", failed)
	}
	fmt.Fprintf(w, "; journal: %s\n", journalPath)
}

// gcProgress draws the walk's and then the removals' progress on stderr,
// only on a terminal.
type gcProgress struct {
	*progressBar
}

func newGCProgress(w io.Writer, quiet bool) gcProgress {
	return gcProgress{newProgressBar(w, quiet)}
}

func (p gcProgress) walk(pr walker.Progress) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\033[Kgc: walking: %d repos, %d manifests, %d blobs, %d problems (%.0fs)",
		pr.Repos, pr.Manifests, pr.Blobs, pr.Problems, time.Since(p.start).Seconds())
	p.drawn = true
}

func (p gcProgress) remove(done, total int) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\033[Kgc: removing: %d of %d (%.0fs)", done, total, time.Since(p.start).Seconds())
	p.drawn = true
}
