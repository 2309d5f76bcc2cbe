package gc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/walker"
)

// Options say what a garbage collection keeps. The zero value marks like
// the registry's default garbage collector (from every revision), with no
// grace period, and leaves uploads alone.
type Options struct {
	// DeleteUntagged marks only from what tags name (through index
	// children) and removes the revisions of untagged manifests nothing
	// kept reaches, like registry garbage-collect --delete-untagged.
	DeleteUntagged bool
	// KeepReferrers, with DeleteUntagged, keeps every manifest whose
	// subject is kept (signatures, SBOMs, attestations), recursively.
	KeepReferrers bool
	// Grace keeps blobs whose data was written, or that a repository
	// linked, within this long before the plan; with DeleteUntagged also
	// untagged revisions pushed within it. Zero keeps nothing for its age.
	Grace time.Duration
	// UploadsOlderThan removes uploads started longer ago than this. Zero
	// leaves every upload alone.
	UploadsOlderThan time.Duration
	// SweepLayersOnlyRepos treats a directory with _layers but no
	// _manifests as the registry does: its links keep nothing, and its
	// links to swept blobs are removed too. By default its blobs are kept.
	SweepLayersOnlyRepos bool
	// Workers bounds the walk's parallel reads (walker.Options.Workers).
	Workers int
	// WalkProgress, if set, is called during the walk.
	WalkProgress func(walker.Progress)
	// RemoveProgress, if set, is called by Execute after each removal.
	RemoveProgress func(done, total int)
}

// Kind is a kind of thing a garbage collection removes.
type Kind string

// The kinds of removals, in the order Execute does them.
const (
	KindRevision  Kind = "revision"   // a repository's manifest revision, with its tag history entries
	KindLayerLink Kind = "layer-link" // a repository's _layers link to a swept blob
	KindBlob      Kind = "blob"       // blobs/<alg>/<xx>/<hex>
	KindUpload    Kind = "upload"     // a repository's _uploads/<uuid>
)

// Kinds returns every Kind in the order Execute removes them: the safest
// first, so that an interrupted run never leaves a link to a missing blob.
func Kinds() []Kind { return []Kind{KindRevision, KindLayerLink, KindBlob, KindUpload} }

// Action is the journal action for removing a thing of kind k, for
// example "remove-blob".
func (k Kind) Action() string { return "remove-" + string(k) }

// Item is one removal a plan holds.
type Item struct {
	Kind   Kind
	Repo   string        // "" for a blob
	Digest digest.Digest // "" for an upload
	UUID   string        // an upload's id
	// Path is the directory removed, relative to the v2 root.
	Path string
	// TagHistory are the tag history entries of a revision, removed
	// before it as the registry's own sweep does.
	TagHistory []string
	// Bytes is a blob's size, an upload's data size; 0 for links.
	Bytes int64
	// Time is when the blob was written, the link made, the upload
	// started.
	Time time.Time
}

// Retained is something a plan keeps only because of one of its safety
// rules, with the reason: what the registry's own garbage collector would
// delete (or what it would delete but should not).
type Retained struct {
	Reason Reason
	Kind   Kind // KindBlob or KindRevision
	Repo   string
	Digest digest.Digest
	Bytes  int64
}

// Held is a repository some of whose content could not be judged; all its
// revisions and every blob it links are kept.
type Held struct {
	Repo   string
	Reason string
}

// Total counts the items of one kind.
type Total struct {
	Kind  Kind
	Count int
	Bytes int64
}

// Plan is what a garbage collection removes, planned from one walk of the
// storage. Planning changes nothing; Execute removes, once.
type Plan struct {
	Options Options
	// Now is when planning started: ages and the grace period count from
	// it.
	Now time.Time
	// Items are the removals, in the order Execute makes them.
	Items []Item
	// Retained is what the safety rules keep, sorted by reason.
	Retained []Retained
	// Held are the repositories kept whole because something in them
	// could not be judged.
	Held []Held
	// MarkIncomplete, when not empty, says why no blob, layer link or
	// revision is swept: part of repositories/ could not be read.
	MarkIncomplete string
	// Problems are the anomalies the walk met (see walker.ProblemKind).
	Problems []walker.Problem
	// Stats count what the walk saw.
	Stats walker.Stats
	// LatestUpload is when the most recent upload started (zero if none):
	// an upload started minutes ago means the registry is in use.
	LatestUpload time.Time

	executed atomic.Bool
}

// Totals counts the plan's items per kind, every kind in Kinds order.
func (p *Plan) Totals() []Total {
	return totals(p.Items)
}

func totals(items []Item) []Total {
	out := make([]Total, 0, 4)
	for _, k := range Kinds() {
		t := Total{Kind: k}
		for _, it := range items {
			if it.Kind == k {
				t.Count++
				t.Bytes += it.Bytes
			}
		}
		out = append(out, t)
	}
	return out
}

// NewPlan walks the storage st and plans a garbage collection: it marks
// like the registry's garbage collector, without its defects (see the
// package doc), and lists what to sweep. It never stops at one bad file:
// what it cannot judge is kept and reported. It fails only when the walk
// does (the storage root unreadable, or ctx done).
func NewPlan(ctx context.Context, st walker.Storage, opts Options) (*Plan, error) {
	now := time.Now()
	c := newCollector()
	stats, err := walker.Walk(ctx, st, c, walker.Options{Workers: opts.Workers, Progress: opts.WalkProgress, ReadRevisionLinks: true})
	if err != nil {
		return nil, fmt.Errorf("plan garbage collection: %w", err)
	}
	pl := &planner{
		ctx:       ctx,
		st:        st,
		opts:      opts,
		c:         c,
		plan:      &Plan{Options: opts, Now: now, Stats: stats, Problems: c.problems},
		held:      map[string]string{},
		heldRoots: map[string][]digest.Digest{},
		missing:   map[string]bool{},
		suspect:   map[digest.Digest]string{},
		noTagsDir: map[string]bool{},
		linkRoots: map[string][]digest.Digest{},
		m:         newMarker(c.manifests),
	}
	if err := pl.run(); err != nil {
		return nil, fmt.Errorf("plan garbage collection: %w", err)
	}
	return pl.plan, nil
}

// planner holds the state of one planning.
type planner struct {
	ctx  context.Context
	st   walker.Storage
	opts Options
	c    *collector
	plan *Plan

	held      map[string]string          // repository -> why it is held
	heldRoots map[string][]digest.Digest // digests a held repository's broken revision links name by path
	missing   map[string]bool            // "repo@digest": revisions whose manifest blob does not exist
	suspect   map[digest.Digest]string   // manifests the registry cannot read, with why
	noTagsDir map[string]bool
	m         *marker

	linkProblems []walker.Problem           // problems in _layers, judged once holds are known
	linkRoots    map[string][]digest.Digest // blobs that unreadable layer links name by path
}

func (pl *planner) run() error {
	pl.readProblems()
	pl.checkRevisions()
	if err := pl.resolveAliases(); err != nil {
		return err
	}
	if pl.opts.DeleteUntagged {
		if err := pl.findNoTagsDirs(); err != nil {
			return err
		}
	}
	pl.readLinkProblems() // once every hold is known
	pl.mark()
	pl.sweep()
	return pl.ctx.Err()
}

func (pl *planner) hold(repo, format string, args ...any) {
	if _, ok := pl.held[repo]; !ok {
		pl.held[repo] = fmt.Sprintf(format, args...)
	}
}

// readProblems turns the walk's problems into what the plan keeps (the
// package doc has the rules): a manifest the registry cannot read is
// suspect and holds the repositories that link it (see checkRevisions); a
// problem in a repository is handled by repoProblem; a part of
// repositories/ that could not be listed, where any repository might hide,
// makes the mark incomplete.
func (pl *planner) readProblems() {
	for _, pr := range pl.c.problems {
		switch pr.Kind {
		case walker.ProblemManifestInvalid, walker.ProblemManifestSchema1, walker.ProblemManifestUnknown:
			if pr.Repo == "" && pr.Digest != "" {
				if _, ok := pl.suspect[pr.Digest]; !ok {
					pl.suspect[pr.Digest] = pr.Message
				}
			}
		case walker.ProblemMissingBlob:
			pl.missing[pr.Repo+"@"+pr.Digest.String()] = true
		case walker.ProblemUnreadable, walker.ProblemBadLink, walker.ProblemMissingLink:
			if pr.Repo != "" {
				pl.repoProblem(pr)
				continue
			}
			// An unreadable part of blobs/ is not listed, so not swept;
			// a manifest in it has no parsed body and holds the
			// repositories that link it.
			if pr.Kind == walker.ProblemUnreadable && under(pr.Path, "repositories") {
				pl.markIncomplete("%s could not be read: %s", pr.Path, pr.Message)
			}
		}
	}
}

// repoProblem handles an unreadable file or directory, a bad or a missing
// link in a repository, by where it is:
//   - in _uploads: nothing; an upload is judged by its startedat.
//   - in _layers: only matters where layer links keep blobs (a held or a
//     layers-only repository); see linkProblems.
//   - in tags: with DeleteUntagged the repository is held, since which
//     manifests are tagged is not known.
//   - in revisions: the repository is held, and the manifest the link
//     directory names by its path is kept; a directory above the link
//     directories that could not be read hides revisions, so the mark is
//     incomplete.
//   - anywhere else: the repository is held.
func (pl *planner) repoProblem(pr walker.Problem) {
	// The layout of walker's path helpers: repositories/<repo>/_manifests/revisions/<alg>/<hex>/link,
	// repositories/<repo>/_layers/<alg>/<hex>/link.
	rest, _ := strings.CutPrefix(pr.Path, "repositories/"+pr.Repo+"/")
	parts := strings.Split(rest, "/")
	area := parts[0]
	if area == "_manifests" && len(parts) > 1 {
		area, parts = parts[1], parts[1:]
	}
	switch area {
	case "_uploads":
	case "_layers":
		pl.linkProblems = append(pl.linkProblems, pr)
	case "tags":
		if pl.opts.DeleteUntagged {
			pl.hold(pr.Repo, "%s: %s", pr.Kind, pr.Message)
		}
	case "revisions":
		pl.hold(pr.Repo, "%s: %s", pr.Kind, pr.Message)
		if d, ok := pathDigest(parts); ok {
			pl.heldRoots[pr.Repo] = append(pl.heldRoots[pr.Repo], d)
		} else if pr.Kind != walker.ProblemMissingLink {
			pl.markIncomplete("%s: %s", pr.Path, pr.Message)
		}
	default:
		pl.hold(pr.Repo, "%s: %s", pr.Kind, pr.Message)
	}
}

// pathDigest is the digest a link directory's path names: parts are
// "revisions" or "_layers", then <alg>, <hex>, maybe "link".
func pathDigest(parts []string) (digest.Digest, bool) {
	if len(parts) < 3 {
		return "", false
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(parts[1]), parts[2])
	return d, d.Validate() == nil
}

// readLinkProblems handles the problems in the _layers of repositories whose
// layer links keep blobs: a link that could not be read keeps the blob its
// path names; a directory above the links that could not be read hides
// links, so the mark is incomplete. Elsewhere a layer link keeps nothing,
// and one that cannot be read is only reported.
func (pl *planner) readLinkProblems() {
	for _, pr := range pl.linkProblems {
		if !pl.linksKeep(pl.c.repo(pr.Repo)) {
			continue
		}
		rest, _ := strings.CutPrefix(pr.Path, "repositories/"+pr.Repo+"/")
		if d, ok := pathDigest(strings.Split(rest, "/")); ok {
			pl.linkRoots[pr.Repo] = append(pl.linkRoots[pr.Repo], d)
		} else if pr.Kind != walker.ProblemMissingLink {
			pl.markIncomplete("%s: %s", pr.Path, pr.Message)
		}
	}
}

// linksKeep reports whether r's layer links keep the blobs they name.
func (pl *planner) linksKeep(r *repository) bool {
	if _, held := pl.held[r.Name]; held {
		return true
	}
	return !r.Listed && !pl.opts.SweepLayersOnlyRepos
}

func (pl *planner) markIncomplete(format string, args ...any) {
	if pl.plan.MarkIncomplete == "" {
		pl.plan.MarkIncomplete = fmt.Sprintf(format, args...)
	}
}

// under reports whether p is dir or below it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// checkRevisions holds each repository with a revision whose manifest the
// plan cannot follow: unreadable, or not a manifest the registry serves.
// What such a manifest references is unknown, so everything its
// repository links is kept. A revision whose blob does not exist names
// nothing and holds nothing.
func (pl *planner) checkRevisions() {
	for _, r := range pl.c.repos {
		for _, v := range r.revisions {
			mf := pl.c.manifests[v.Target]
			switch {
			case mf == nil && pl.missing[r.Name+"@"+v.Target.String()]:
			case mf == nil:
				pl.hold(r.Name, "manifest %s of revision %s could not be read", v.Target, v.Digest)
			case pl.suspect[v.Target] != "":
				pl.hold(r.Name, "%s", pl.suspect[v.Target])
			case mf.kind != walker.KindImage && mf.kind != walker.KindIndex:
				pl.hold(r.Name, "manifest %s is %s, not a manifest the registry serves", v.Target, mf.kind)
			}
		}
	}
}

// resolveAliases finds the blob each non-sha256 reference names. The
// registry serves a blob referenced by, say, a sha512 digest through the
// repository's layer link at that digest, which holds the sha256 the blob
// is stored under; its garbage collector marks the sha512 digest instead,
// and deletes the blob. Each such reference is resolved through the layer
// links of the repositories that have a revision of the manifest.
func (pl *planner) resolveAliases() error {
	for _, r := range pl.c.repos {
		for _, v := range r.revisions {
			mf := pl.c.manifests[v.Target]
			if mf == nil {
				continue
			}
			for _, ref := range mf.refs {
				if ref.Algorithm() == digest.SHA256 {
					continue
				}
				if err := pl.resolveAlias(r.Name, ref); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (pl *planner) resolveAlias(repo string, ref digest.Digest) error {
	if err := ref.Validate(); err != nil {
		pl.hold(repo, "a manifest references %q, not a valid digest", ref)
		return nil
	}
	linkPath := path.Join(walker.LayerLinkDir(repo, ref), "link")
	b, err := pl.st.ReadFile(pl.ctx, linkPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // the registry cannot serve it either
	case pl.ctx.Err() != nil:
		return pl.ctx.Err()
	case err != nil:
		pl.hold(repo, "read layer link %s: %v", linkPath, err)
		return nil
	}
	d, err := walker.ParseLink(b)
	if err != nil {
		pl.hold(repo, "layer link %s: %v", linkPath, err)
		return nil
	}
	if !slices.Contains(pl.m.aliases[ref], d) {
		pl.m.aliases[ref] = append(pl.m.aliases[ref], d)
	}
	return nil
}

// findNoTagsDirs finds the listed repositories that have revisions and no
// tags/ directory. The registry's --delete-untagged skips their revisions
// (it means to keep them) but never marks them, so it deletes their blobs;
// here they are kept whole.
func (pl *planner) findNoTagsDirs() error {
	for _, r := range pl.c.repos {
		if !r.Listed || len(r.revisions) == 0 || len(r.tags) > 0 {
			continue
		}
		// The parent of any tag's directory: repositories/<repo>/_manifests/tags.
		tagsDir := path.Dir(walker.TagDir(r.Name, "x"))
		_, err := pl.st.Stat(pl.ctx, tagsDir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			pl.noTagsDir[r.Name] = true
		case pl.ctx.Err() != nil:
			return pl.ctx.Err()
		case err != nil:
			pl.hold(r.Name, "stat %s: %v", tagsDir, err)
		}
	}
	return nil
}

// mark runs the mark phase: first the plain mark the registry makes, then
// each safety rule's roots, so that Retained says which rule kept what.
func (pl *planner) mark() {
	m := pl.m
	if pl.opts.DeleteUntagged && pl.opts.KeepReferrers {
		m.keepReferrers()
	}
	repos := pl.sortedRepos()

	// The plain mark. A tag's digest is marked even when its repository
	// has no revision of it (a pull of the tag fails, but the blob is
	// what the tag names).
	for _, r := range repos {
		targets := map[digest.Digest]digest.Digest{}
		for _, v := range r.revisions {
			targets[v.Digest] = v.Target
			if !pl.opts.DeleteUntagged {
				m.mark(v.Digest, referenced)
				m.mark(v.Target, referenced)
			}
		}
		for _, t := range r.tags {
			m.mark(t.Digest, referenced)
			if target, ok := targets[t.Digest]; ok {
				m.mark(target, referenced)
			}
		}
	}
	m.drain()

	// The safety rules, each drained before the next so that what one
	// keeps is attributed to it.
	cutoff := pl.plan.Now.Add(-pl.opts.Grace)
	for _, r := range repos {
		if _, ok := pl.held[r.Name]; !ok {
			continue
		}
		for _, v := range r.revisions {
			m.mark(v.Digest, ReasonHeld)
			m.mark(v.Target, ReasonHeld)
		}
		for _, d := range pl.heldRoots[r.Name] {
			m.mark(d, ReasonHeld)
		}
		for _, l := range r.layers {
			m.mark(l.Digest, ReasonHeld)
		}
		for _, d := range pl.linkRoots[r.Name] {
			m.mark(d, ReasonHeld)
		}
	}
	m.drain()
	if pl.opts.DeleteUntagged {
		for _, r := range repos {
			if !pl.noTagsDir[r.Name] {
				continue
			}
			for _, v := range r.revisions {
				m.mark(v.Digest, ReasonNoTagsDir)
				m.mark(v.Target, ReasonNoTagsDir)
			}
		}
		m.drain()
		for _, r := range repos {
			for _, v := range r.revisions {
				if v.LinkedAt.After(cutoff) {
					m.mark(v.Digest, ReasonRecentRevision)
					m.mark(v.Target, ReasonRecentRevision)
				}
			}
		}
		m.drain()
	}
	if !pl.opts.SweepLayersOnlyRepos {
		for _, r := range repos {
			if r.Listed {
				continue
			}
			for _, l := range r.layers {
				m.mark(l.Digest, ReasonLayersOnly)
			}
			for _, d := range pl.linkRoots[r.Name] {
				m.mark(d, ReasonLayersOnly)
			}
		}
		m.drain()
	}
}

func (pl *planner) sortedRepos() []*repository {
	repos := make([]*repository, 0, len(pl.c.repos))
	for _, r := range pl.c.repos {
		repos = append(repos, r)
	}
	slices.SortFunc(repos, func(a, b *repository) int { return strings.Compare(a.Name, b.Name) })
	return repos
}

// sweep lists what goes: with DeleteUntagged the revisions nothing marked,
// every unmarked blob older than the grace period and not linked within
// it, the layer links to those blobs, and old uploads.
func (pl *planner) sweep() {
	p := pl.plan
	m := pl.m
	cutoff := p.Now.Add(-pl.opts.Grace)
	repos := pl.sortedRepos()
	incomplete := p.MarkIncomplete != ""

	var revisions, links, blobs, uploads []Item

	// Revisions, with DeleteUntagged.
	for _, r := range repos {
		if !pl.opts.DeleteUntagged {
			break
		}
		seen := map[digest.Digest]bool{}
		for _, v := range r.revisions {
			why, marked := m.isMarked(v.Digest)
			if !marked {
				why, marked = m.isMarked(v.Target)
			}
			switch {
			case marked && why == ReasonNoTagsDir:
				continue // the registry keeps these revisions too, but not their blobs
			case marked && why != referenced:
				pl.retain(why, KindRevision, r.Name, v.Digest, 0)
				continue
			case marked, incomplete, seen[v.Digest]:
				continue
			case pl.missing[r.Name+"@"+v.Target.String()]:
				continue // the registry skips a revision without its blob; so does this
			}
			seen[v.Digest] = true
			it := Item{Kind: KindRevision, Repo: r.Name, Digest: v.Digest, Path: walker.RevisionDir(r.Name, v.Digest), Time: v.LinkedAt}
			for _, h := range r.history {
				if h.Digest == v.Digest || h.Digest == v.Target {
					it.TagHistory = append(it.TagHistory, walker.TagIndexDir(r.Name, h.Tag, h.Digest))
				}
			}
			slices.Sort(it.TagHistory)
			it.TagHistory = slices.Compact(it.TagHistory)
			revisions = append(revisions, it)
		}
	}

	// Blobs.
	recentLink := map[digest.Digest]bool{}
	for _, r := range repos {
		for _, l := range r.layers {
			if l.LinkedAt.After(cutoff) {
				recentLink[l.Digest] = true
			}
		}
	}
	swept := map[digest.Digest]bool{}
	for _, b := range pl.c.blobs {
		if why, ok := m.isMarked(b.Digest); ok {
			if why != referenced {
				pl.retain(why, KindBlob, "", b.Digest, b.Size)
			}
			continue
		}
		switch {
		case incomplete:
			pl.retain(ReasonMarkIncomplete, KindBlob, "", b.Digest, b.Size)
		case b.ModifiedAt.After(cutoff):
			pl.retain(ReasonGrace, KindBlob, "", b.Digest, b.Size)
		case recentLink[b.Digest]:
			pl.retain(ReasonRecentLink, KindBlob, "", b.Digest, b.Size)
		default:
			swept[b.Digest] = true
			blobs = append(blobs, Item{Kind: KindBlob, Digest: b.Digest, Path: walker.BlobDir(b.Digest), Bytes: b.Size, Time: b.ModifiedAt})
		}
	}

	// Layer links to swept blobs, whatever the order of repositories.
	for _, r := range repos {
		seen := map[digest.Digest]bool{}
		for _, l := range r.layers {
			if !swept[l.Digest] || seen[l.Digest] {
				continue
			}
			seen[l.Digest] = true
			links = append(links, Item{Kind: KindLayerLink, Repo: r.Name, Digest: l.Digest, Path: walker.LayerLinkDir(r.Name, l.Digest), Time: l.LinkedAt})
		}
	}

	// Uploads, by their startedat as the registry's upload purger reads
	// it; one without a readable startedat is never purged, as there.
	for _, r := range repos {
		for _, u := range r.uploads {
			if u.StartedAt.After(p.LatestUpload) {
				p.LatestUpload = u.StartedAt
			}
			if pl.opts.UploadsOlderThan <= 0 || u.StartedAt.IsZero() || !u.StartedAt.Before(p.Now.Add(-pl.opts.UploadsOlderThan)) {
				continue
			}
			uploads = append(uploads, Item{Kind: KindUpload, Repo: r.Name, UUID: u.UUID, Path: walker.UploadDir(r.Name, u.UUID), Bytes: u.Size, Time: u.StartedAt})
		}
	}

	slices.SortFunc(blobs, func(a, b Item) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	p.Items = slices.Concat(revisions, links, blobs, uploads)

	for repo, why := range pl.held {
		p.Held = append(p.Held, Held{Repo: repo, Reason: why})
	}
	slices.SortFunc(p.Held, func(a, b Held) int { return strings.Compare(a.Repo, b.Repo) })
	slices.SortFunc(p.Retained, func(a, b Retained) int {
		return cmp.Or(
			strings.Compare(string(a.Reason), string(b.Reason)),
			strings.Compare(string(a.Kind), string(b.Kind)),
			strings.Compare(a.Repo, b.Repo),
			strings.Compare(string(a.Digest), string(b.Digest)),
		)
	})
}

func (pl *planner) retain(why Reason, k Kind, repo string, d digest.Digest, size int64) {
	pl.plan.Retained = append(pl.plan.Retained, Retained{Reason: why, Kind: k, Repo: repo, Digest: d, Bytes: size})
}
