package deleter

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/queries"
)

// DefaultProtect is the protect pattern the command line uses unless told
// otherwise: a tag named latest is what users pull without thinking.
const DefaultProtect = `^latest$`

// PlanOptions says how NewPlan reads a candidate list.
type PlanOptions struct {
	// Protect are regular expressions (Go syntax). A tag that matches one,
	// by its name or as "repo:tag", is never deleted, and neither is a
	// manifest it names. Protection wins over every other rule.
	Protect []string `json:"protect,omitempty"`
	// WithReferrers deletes the referrers (signatures, SBOMs, attestations)
	// of every manifest the plan deletes, rather than warn that they stay
	// behind as orphans.
	WithReferrers bool `json:"with_referrers,omitempty"`
}

// ActionKind is what an action does, in the registry API's terms.
type ActionKind string

// The actions. Their names are the journal's action names.
const (
	// DeleteTag removes one tag (DELETE /v2/<repo>/manifests/<tag>); the
	// manifest stays as a revision.
	DeleteTag ActionKind = "delete-tag"
	// DeleteManifest removes a manifest revision and every tag naming it
	// (DELETE /v2/<repo>/manifests/<digest>).
	DeleteManifest ActionKind = "delete-manifest"
)

// Why says why the plan takes an action.
type Why string

// The reasons for an action.
const (
	WhyCandidate Why = "candidate" // a row asks for the manifest by digest
	WhyLastTag   Why = "last-tag"  // every tag on the manifest is a candidate, so the manifest goes
	// The tag goes, the manifest stays:
	WhySharedDigest   Why = "shared-digest"    // another tag that stays names it
	WhyKeptIndexChild Why = "kept-index-child" // an index that stays lists it
	WhyNoRevision     Why = "no-revision"      // the tag names no revision of its repository
	// Derived from another deletion:
	WhyChild    Why = "child"    // a child of a deleted index that nothing kept references
	WhyReferrer Why = "referrer" // a referrer of a deleted manifest (WithReferrers)
)

// Reason says why a candidate, or an action at execution time, is refused.
type Reason string

// The refusals. Each names one safety rule.
const (
	ReasonInvalid  Reason = "invalid"   // the row is not a valid candidate
	ReasonNotFound Reason = "not-found" // the repository, tag or manifest is not in the index
	// ReasonStale: the tag names another digest now than the list (or the
	// plan) says: the list was made before someone pushed.
	ReasonStale Reason = "stale"
	// ReasonProtected: the tag, or a tag on the manifest, matches a protect
	// pattern.
	ReasonProtected Reason = "protected"
	// ReasonSharedDigest: deleting the manifest by digest would delete tags
	// that are not candidates.
	ReasonSharedDigest Reason = "shared-digest"
	// ReasonKeptIndexChild: the manifest is a child of an index in its
	// repository that stays; deleting it would break pulls of that index.
	ReasonKeptIndexChild Reason = "kept-index-child"
	// ReasonTagDeleteUnsupported: the registry cannot delete a tag alone
	// (registry v2.x), and deleting its manifest would take what the plan
	// keeps. Only an executor returns it.
	ReasonTagDeleteUnsupported Reason = "tag-delete-unsupported"
)

// WarningKind classifies a warning.
type WarningKind string

// The warnings.
const (
	WarnOrphanReferrer WarningKind = "orphan-referrer" // a referrer of a deleted manifest stays
	WarnReferrerTag    WarningKind = "referrer-tag"    // a tag named after a deleted digest (sha256-<hex>...) stays
	WarnEmptiesRepo    WarningKind = "empties-repo"    // every tag of the repository goes
)

// Action is one deletion, in the registry API's terms.
type Action struct {
	Kind   ActionKind    `json:"action"`
	Repo   string        `json:"repo"`
	Tag    string        `json:"tag,omitempty"`    // DeleteTag: the tag
	Digest digest.Digest `json:"digest,omitempty"` // DeleteTag: what the tag must still name; DeleteManifest: the manifest
	// Tags are the tags a DeleteManifest takes with it, all of them
	// candidates.
	Tags   []string      `json:"tags,omitempty"`
	Why    Why           `json:"why"`
	Of     digest.Digest `json:"of,omitempty"` // WhyChild, WhyReferrer: the deleted manifest it goes with
	Detail string        `json:"detail,omitempty"`
	// Step orders the run: every action of a step is done before the next
	// step starts. Tags go first, then referrers before their subjects and
	// indexes before their children.
	Step int `json:"step"`
	// After are the keys of actions that must be done before this one may
	// run: the deletions of the indexes that list this manifest. If one of
	// them fails, this one is not attempted: deleting a child of an index
	// that stays would break it.
	After []string `json:"after,omitempty"`
}

// Target names what the action deletes: "repo:tag" or "repo@digest".
func (a Action) Target() string {
	if a.Kind == DeleteTag {
		return a.Repo + ":" + a.Tag
	}
	return a.Repo + "@" + a.Digest.String()
}

// Key identifies the action in the journal (journal.Entry.Key).
func (a Action) Key() string { return string(a.Kind) + " " + a.Target() }

// Refusal is a candidate the plan will not act on.
type Refusal struct {
	Candidate queries.Candidate `json:"candidate"`
	Reason    Reason            `json:"reason"`
	Detail    string            `json:"detail"`
}

// Warning is something the plan does that a person should know before
// saying yes.
type Warning struct {
	Kind    WarningKind   `json:"kind"`
	Repo    string        `json:"repo"`
	Digest  digest.Digest `json:"digest,omitempty"`
	Message string        `json:"message"`
}

// RepoBytes is what the plan frees in one repository (a blob freed by
// deletions in two repositories counts in both).
type RepoBytes struct {
	Repo      string `json:"repo"`
	Tags      int    `json:"tags"`
	Manifests int    `json:"manifests"`
	Blobs     int    `json:"blobs"`
	Bytes     int64  `json:"bytes"`
}

// Plan is what deleting a candidate list would do: the actions, in the order
// they run, the candidates refused and why, warnings, and the space the
// registry's garbage collector frees afterwards. Build one with NewPlan (or
// from a journal with ResumePlan); run it once with Execute.
type Plan struct {
	Actions  []Action  `json:"actions"`
	Refused  []Refusal `json:"refused"`
	Warnings []Warning `json:"warnings"`
	// EmptiedRepos are the repositories the plan leaves without a tag.
	EmptiedRepos []string `json:"emptied_repos"`
	// Candidates is the number of rows planned.
	Candidates int `json:"candidates"`
	// Bytes and Blobs are what the registry's garbage collector (default
	// mode) frees after the plan, each blob counted once, as the
	// reclaimable report computes it; Repos breaks it down. Zero when
	// unknown (a plan read back from a journal without an index).
	Bytes int64       `json:"bytes"`
	Blobs int         `json:"blobs"`
	Repos []RepoBytes `json:"repos"`
	// IndexedAt is when the scan the plan was made from finished.
	IndexedAt time.Time   `json:"indexed_at"`
	Options   PlanOptions `json:"options"`
	// AlreadyDone counts the actions of a resumed run that an earlier run
	// did; they are not in Actions.
	AlreadyDone int `json:"already_done,omitempty"`

	db        *index.DB       // for the bytes of a partial run; nil when resumed without an index
	priorDone map[string]bool // keys an earlier run of a resumed journal did
	executed  bool
}

// NewPlan resolves cands against the index db and decides, for each, what to
// delete or why not, following the safety rules (see the package doc). It
// changes nothing.
func NewPlan(ctx context.Context, db *index.DB, cands []queries.Candidate, opts PlanOptions) (*Plan, error) {
	protect, err := compileProtect(opts.Protect)
	if err != nil {
		return nil, err
	}
	p := newPlan(opts)
	p.Candidates, p.db = len(cands), db
	if p.IndexedAt, err = indexedAt(ctx, db); err != nil {
		return nil, err
	}
	byRepo := map[string][]queries.Candidate{}
	var repos []string
	for _, c := range cands {
		if err := c.Validate(); err != nil {
			p.refuse(c, ReasonInvalid, err.Error())
			continue
		}
		if _, ok := byRepo[c.Repo]; !ok {
			repos = append(repos, c.Repo)
		}
		byRepo[c.Repo] = append(byRepo[c.Repo], c)
	}
	for _, name := range repos {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r, err := loadRepo(ctx, db, name)
		if err != nil {
			return nil, err
		}
		if r == nil {
			for _, c := range byRepo[name] {
				p.refuse(c, ReasonNotFound, fmt.Sprintf("repository %q is not in the index", name))
			}
			continue
		}
		rp := &repoPlan{p: p, r: r, protect: protect, opts: opts}
		if err := rp.plan(byRepo[name]); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(p.Actions, func(a, b Action) int {
		return cmp.Or(cmp.Compare(a.Step, b.Step), strings.Compare(a.Repo, b.Repo),
			strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.Target(), b.Target()))
	})
	rc, err := reclaim(ctx, db, p.Actions)
	if err != nil {
		return nil, err
	}
	p.Bytes, p.Blobs = rc.bytes, rc.blobs
	if rc.repos != nil {
		p.Repos = rc.repos
	}
	return p, nil
}

// newPlan returns an empty plan whose lists are empty rather than nil, so
// that its JSON has [] where there is nothing.
func newPlan(opts PlanOptions) *Plan {
	return &Plan{Actions: []Action{}, Refused: []Refusal{}, Warnings: []Warning{}, EmptiedRepos: []string{}, Repos: []RepoBytes{}, Options: opts}
}

func (p *Plan) refuse(c queries.Candidate, r Reason, detail string) {
	p.Refused = append(p.Refused, Refusal{Candidate: c, Reason: r, Detail: detail})
}

func (p *Plan) warn(k WarningKind, repo string, d digest.Digest, format string, args ...any) {
	p.Warnings = append(p.Warnings, Warning{Kind: k, Repo: repo, Digest: d, Message: fmt.Sprintf(format, args...)})
}

// Tags counts the tags the plan deletes, by tag or with their manifest.
func (p *Plan) Tags() int {
	n := 0
	for _, a := range p.Actions {
		if a.Kind == DeleteTag {
			n++
		} else {
			n += len(a.Tags)
		}
	}
	return n
}

// Manifests counts the manifests the plan deletes.
func (p *Plan) Manifests() int {
	n := 0
	for _, a := range p.Actions {
		if a.Kind == DeleteManifest {
			n++
		}
	}
	return n
}

// protector says whether a tag is protected, and by which pattern.
type protector func(repo, tag string) (pattern string, ok bool)

func compileProtect(patterns []string) (protector, error) {
	res := make([]*regexp.Regexp, len(patterns))
	for i, s := range patterns {
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrBadProtect, s, err)
		}
		res[i] = re
	}
	return func(repo, tag string) (string, bool) {
		for _, re := range res {
			if re.MatchString(tag) || re.MatchString(repo+":"+tag) {
				return re.String(), true
			}
		}
		return "", false
	}, nil
}

// going is a manifest the plan deletes and why.
type going struct {
	why    Why
	of     digest.Digest
	reason string // the candidate row's own reason, if any
}

// repoPlan plans the candidates of one repository. Nothing crosses
// repositories: a manifest, its index parents, its children and its
// referrers are resolved through this repository's revisions, as the
// registry resolves them.
type repoPlan struct {
	p       *Plan
	r       *repoState
	protect protector
	opts    PlanOptions

	doomed    map[string]bool   // tags that go
	tagReason map[string]string // a tag row's own reason
	going     map[digest.Digest]going
	blockedBy map[digest.Digest]digest.Digest // wanted manifests an index that stays lists
}

func (rp *repoPlan) plan(cands []queries.Candidate) error {
	r := rp.r
	rp.doomed = map[string]bool{}
	rp.tagReason = map[string]string{}
	rp.going = map[digest.Digest]going{}
	rp.blockedBy = map[digest.Digest]digest.Digest{}

	// Rows by tag: the stale and protect rules.
	digestRows := map[digest.Digest][]queries.Candidate{}
	for _, c := range cands {
		if c.Tag == "" {
			if r.revs[c.Digest] == nil {
				rp.p.refuse(c, ReasonNotFound, fmt.Sprintf("manifest %s is not a revision of %q", c.Digest, r.name))
				continue
			}
			digestRows[c.Digest] = append(digestRows[c.Digest], c)
			continue
		}
		d, ok := r.tags[c.Tag]
		if !ok {
			rp.p.refuse(c, ReasonNotFound, fmt.Sprintf("tag %q is not in %q (deleted already?)", c.Tag, r.name))
			continue
		}
		if c.Digest != "" && c.Digest != d {
			rp.p.refuse(c, ReasonStale, fmt.Sprintf("tag now names %s, the list says %s", d, c.Digest))
			continue
		}
		if pat, ok := rp.protect(r.name, c.Tag); ok {
			rp.p.refuse(c, ReasonProtected, fmt.Sprintf("tag matches protect pattern %q", pat))
			continue
		}
		rp.doomed[c.Tag] = true
		if c.Reason != "" {
			rp.tagReason[c.Tag] = c.Reason
		}
	}

	// Rows by digest: deleting a manifest deletes every tag on it.
	for _, d := range slices.Sorted(maps.Keys(digestRows)) {
		rows := digestRows[d]
		var prot, kept []string
		for _, t := range r.tagsOn[d] {
			if _, ok := rp.protect(r.name, t); ok {
				prot = append(prot, t)
			} else if !rp.doomed[t] {
				kept = append(kept, t)
			}
		}
		switch {
		case len(prot) > 0:
			for _, c := range rows {
				rp.p.refuse(c, ReasonProtected, fmt.Sprintf("deleting the manifest would delete protected tag(s) %s", strings.Join(prot, ", ")))
			}
		case len(kept) > 0:
			for _, c := range rows {
				rp.p.refuse(c, ReasonSharedDigest, fmt.Sprintf("deleting the manifest by digest would also delete tag(s) %s, which are not candidates", strings.Join(kept, ", ")))
			}
		default:
			rp.going[d] = going{why: WhyCandidate, reason: rows[0].Reason}
		}
	}

	// A manifest whose every tag goes goes too: an untagged revision only
	// frees space after a GC with --delete-untagged.
	for d, tags := range r.tagsOn {
		if _, ok := rp.going[d]; ok || r.revs[d] == nil || !rp.allDoomed(d) {
			continue
		}
		reason := ""
		for _, t := range tags {
			if reason = rp.tagReason[t]; reason != "" {
				break
			}
		}
		rp.going[d] = going{why: WhyLastTag, reason: reason}
	}
	wanted := maps.Clone(rp.going)

	rp.closure()
	rp.prune()

	for d := range wanted {
		if _, ok := rp.going[d]; ok {
			continue
		}
		if rows := digestRows[d]; len(rows) > 0 {
			for _, c := range rows {
				rp.p.refuse(c, ReasonKeptIndexChild, fmt.Sprintf("the manifest is a child of index %s, which stays", rp.blockedBy[d]))
			}
		}
	}
	rp.emit()
	return rp.order()
}

// allDoomed reports whether every tag naming d goes (true when none does).
func (rp *repoPlan) allDoomed(d digest.Digest) bool {
	for _, t := range rp.r.tagsOn[d] {
		if !rp.doomed[t] {
			return false
		}
	}
	return true
}

// closure adds what goes with the manifests that go: the children of a
// deleted index that no tag that stays names, and with WithReferrers the
// referrers of every deleted manifest, recursively. It adds optimistically;
// prune takes back whatever an index that stays still lists.
func (rp *repoPlan) closure() {
	r := rp.r
	queue := slices.Sorted(maps.Keys(rp.going))
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		for _, c := range r.revs[x].children {
			if _, ok := rp.going[c]; ok || r.revs[c] == nil || !rp.allDoomed(c) {
				continue
			}
			rp.going[c] = going{why: WhyChild, of: x}
			queue = append(queue, c)
		}
		if !rp.opts.WithReferrers {
			continue
		}
		for _, rr := range r.referrers[x] {
			if _, ok := rp.going[rr]; ok || !rp.allDoomed(rr) {
				continue
			}
			rp.going[rr] = going{why: WhyReferrer, of: x}
			queue = append(queue, rr)
		}
	}
}

// prune removes, until nothing changes, every manifest that an index that
// stays lists, and every referrer whose subject stays. Removing only ever
// makes more things stay, so the result is the largest safe set.
func (rp *repoPlan) prune() {
	for changed := true; changed; {
		changed = false
		for _, d := range slices.Sorted(maps.Keys(rp.going)) {
			g := rp.going[d]
			if p := rp.keptParent(d); p != "" {
				delete(rp.going, d)
				rp.blockedBy[d] = p
				changed = true
				continue
			}
			if g.why == WhyReferrer {
				if _, ok := rp.going[g.of]; !ok {
					delete(rp.going, d)
					changed = true
				}
			}
		}
	}
}

// keptParent returns an index of the repository that lists d and stays.
func (rp *repoPlan) keptParent(d digest.Digest) digest.Digest {
	for _, p := range rp.r.parents[d] {
		if _, ok := rp.going[p]; !ok {
			return p
		}
	}
	return ""
}

// emit turns the decisions into actions and warnings.
func (rp *repoPlan) emit() {
	r, p := rp.r, rp.p
	for _, d := range slices.Sorted(maps.Keys(rp.going)) {
		g := rp.going[d]
		a := Action{Kind: DeleteManifest, Repo: r.name, Digest: d, Tags: r.tagsOn[d], Why: g.why, Of: g.of}
		rev := r.revs[d]
		switch g.why {
		case WhyCandidate:
			a.Detail = "asked for by digest"
		case WhyLastTag:
			a.Detail = "every tag on it is a candidate"
		case WhyChild:
			a.Detail = fmt.Sprintf("child of deleted index %s", short(g.of))
		case WhyReferrer:
			a.Detail = fmt.Sprintf("referrer (%s) of deleted %s", cmp.Or(rev.artifactType, rev.mediaType), short(g.of))
		}
		if g.reason != "" {
			a.Detail += ": " + g.reason
		}
		p.Actions = append(p.Actions, a)
	}
	for _, t := range slices.Sorted(maps.Keys(rp.doomed)) {
		d := r.tags[t]
		if _, ok := rp.going[d]; ok {
			continue // the manifest's deletion takes the tag
		}
		a := Action{Kind: DeleteTag, Repo: r.name, Tag: t, Digest: d}
		var kept []string
		for _, o := range r.tagsOn[d] {
			if !rp.doomed[o] {
				kept = append(kept, o)
			}
		}
		switch {
		case r.revs[d] == nil:
			a.Why, a.Detail = WhyNoRevision, "the tag names no revision of the repository"
		case len(kept) > 0:
			a.Why, a.Detail = WhySharedDigest, fmt.Sprintf("the manifest stays: also tagged %s", strings.Join(kept, ", "))
		default:
			a.Why, a.Detail = WhyKeptIndexChild, fmt.Sprintf("the manifest stays: child of index %s, which stays", short(rp.blockedBy[d]))
		}
		if reason := rp.tagReason[t]; reason != "" {
			a.Detail += ": " + reason
		}
		p.Actions = append(p.Actions, a)
	}

	for _, d := range slices.Sorted(maps.Keys(rp.going)) {
		for _, rr := range r.referrers[d] {
			if _, ok := rp.going[rr]; ok {
				continue
			}
			rev := r.revs[rr]
			why := "delete referrers too to remove it"
			switch {
			case !rp.allDoomed(rr):
				why = fmt.Sprintf("tag(s) %s keep it", strings.Join(r.tagsOn[rr], ", "))
			case rp.keptParent(rr) != "":
				why = fmt.Sprintf("index %s, which stays, lists it", short(rp.keptParent(rr)))
			}
			p.warn(WarnOrphanReferrer, r.name, rr, "referrer %s (%s) of deleted %s stays, an orphan: %s",
				short(rr), cmp.Or(rev.artifactType, rev.mediaType), short(d), why)
		}
	}
	for _, t := range slices.Sorted(maps.Keys(r.tags)) {
		if rp.doomed[t] {
			continue
		}
		if s, ok := referrerTagSubject(t); ok {
			if _, gone := rp.going[s]; gone {
				p.warn(WarnReferrerTag, r.name, r.tags[t], "tag %q names a signature or referrers list of deleted %s and stays; add it to the candidates to delete it", t, short(s))
			}
		}
	}
	if len(r.tags) > 0 && len(rp.doomed) == len(r.tags) {
		p.EmptiedRepos = append(p.EmptiedRepos, r.name)
		p.warn(WarnEmptiesRepo, r.name, "", "the plan deletes every tag of %q (%d)", r.name, len(r.tags))
	}
}

// referrerTagRE matches the tags clients push for registries without a
// referrers API: the OCI fallback tag "sha256-<hex>" (an index of the
// referrers) and cosign's "sha256-<hex>.sig", ".att", ".sbom".
var referrerTagRE = regexp.MustCompile(`^(sha256|sha384|sha512)-([0-9a-f]{64,128})(\.[a-z]+)?$`)

func referrerTagSubject(tag string) (digest.Digest, bool) {
	m := referrerTagRE.FindStringSubmatch(tag)
	if m == nil {
		return "", false
	}
	return digest.Digest(m[1] + ":" + m[2]), true
}

// order sets each action's step and the actions it must wait for. A tag
// deletion is step 0. A manifest's step is one more than the largest step
// of the deleted manifests that must go before it: its referrers (so that a
// run stopped midway leaves no referrer whose subject is gone) and the
// indexes that list it (so that no index that is still there lists a
// deleted child).
func (rp *repoPlan) order() error {
	r := rp.r
	level := map[digest.Digest]int{}
	visiting := map[digest.Digest]bool{}
	var visit func(d digest.Digest) (int, error)
	visit = func(d digest.Digest) (int, error) {
		if l, ok := level[d]; ok {
			return l, nil
		}
		if visiting[d] {
			return 0, fmt.Errorf("plan %q: manifest %s is its own ancestor (corrupt index?)", r.name, d)
		}
		visiting[d] = true
		l := 0
		var before []digest.Digest
		before = append(before, r.parents[d]...)
		before = append(before, r.referrers[d]...)
		for _, b := range before {
			if _, ok := rp.going[b]; !ok {
				continue
			}
			bl, err := visit(b)
			if err != nil {
				return 0, err
			}
			l = max(l, bl+1)
		}
		visiting[d] = false
		level[d] = l
		return l, nil
	}
	for i := range rp.p.Actions {
		a := &rp.p.Actions[i]
		if a.Repo != r.name || a.Kind != DeleteManifest {
			continue
		}
		l, err := visit(a.Digest)
		if err != nil {
			return err
		}
		a.Step = 1 + l
		a.After = nil
		for _, parent := range r.parents[a.Digest] {
			if _, ok := rp.going[parent]; ok {
				a.After = append(a.After, Action{Kind: DeleteManifest, Repo: r.name, Digest: parent}.Key())
			}
		}
	}
	return nil
}

// short is a digest's first 12 hex characters, for messages.
func short(d digest.Digest) string {
	if d.Validate() == nil && len(d.Encoded()) > 12 {
		return d.Algorithm().String() + ":" + d.Encoded()[:12]
	}
	return d.String()
}
