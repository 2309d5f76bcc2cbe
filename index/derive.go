package index

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/walker"
)

// derive computes the derived tables (migrations/00006_derived.sql) from
// the graph of the tables a build loaded (loadGraph, or a snapshot the
// build patched), in tx: what each tag reaches, what each revision and
// repository uses, and what the registry's garbage collector marks and
// deletes in each mode. Every report would otherwise work these out again
// on every run, one B-tree lookup at a time, which costs seconds on a
// registry of 100k manifests; here they come from compact arrays, in a
// fraction of a second.
//
// A full build (fresh) inserts every row into empty tables; an incremental
// build computes everything again from the updated graph and writes only
// the rows that differ, so that its journal stays as small as its change;
// with a scope, it compares tag_reach and revision_usage only in the
// repositories whose rows may differ (see repoScope). driver is the
// storage driver's name: the garbage collector's catalog order depends on
// it.
func derive(ctx context.Context, tx *sql.Tx, g *graph, driver string, fresh bool, scope *repoScope) error {
	for _, table := range g.derivedTables(driver, !fresh, scope) {
		if err := writeDerived(ctx, tx, table(), fresh); err != nil {
			return err
		}
	}
	return nil
}

// deriveGC sets the garbage collector up for loading a graph and deriving
// from it, and returns what sets it back. The graph is some tens of MB for
// a registry of 100k manifests, and reading the tables makes as much
// garbage again: collected early, it keeps the heap near the graph's size
// rather than twice it, which on top of SQLite's page cache would raise
// the build's peak resident set. What was garbage before (the walk's
// buffers) goes back to the system first. percent is the GOGC meanwhile.
func deriveGC(percent int) (restore func()) {
	debug.FreeOSMemory()
	percent = debug.SetGCPercent(percent)
	return func() { debug.SetGCPercent(percent) }
}

// The garbage collector's GOGC while an incremental build runs, and while
// a full build derives: a full build's derive is at the build's peak
// resident set, and at 15 rather than 30 its heap stays 7 MB smaller
// (large bench tree: 294–296 -> 287–290 MB), in the same time; an
// incremental run allocates more as it goes (its probe), for which 30
// was measured.
const (
	derivePercent     = 30
	fullDerivePercent = 15
)

// noTime stands for NULL in the int64 time columns of a graph.
const noTime = math.MinInt64

// digests interns digest texts as dense int32 ids. A sha256 digest, which
// is nearly every one, is keyed by its 32 bytes rather than its 71-byte
// text, and looked up by their first 8 (random, as they are a hash), the
// rest compared on a hit; any other digest (another algorithm, or text
// that is no valid digest) is keyed by its text.
type digests struct {
	byPrefix map[uint64]int32   // the first digest with those first 8 bytes
	byKey    map[[32]byte]int32 // the others with the same first 8 bytes: never seen in practice
	byText   map[string]int32
	keys     [][32]byte       // by id; zero for an id in texts
	isText   []bool           // by id: not a sha256 digest, its text in texts
	texts    map[int32]string // ids of the digests that are not sha256
}

// newDigests makes an interner for about n digests.
func newDigests(n int) *digests {
	return &digests{byPrefix: make(map[uint64]int32, n), byKey: map[[32]byte]int32{},
		byText: map[string]int32{}, texts: map[int32]string{},
		keys: make([][32]byte, 0, n), isText: make([]bool, 0, n)}
}

const sha256Prefix = "sha256:"

func prefix(k *[32]byte) uint64 {
	return uint64(k[0])<<56 | uint64(k[1])<<48 | uint64(k[2])<<40 | uint64(k[3])<<32 |
		uint64(k[4])<<24 | uint64(k[5])<<16 | uint64(k[6])<<8 | uint64(k[7])
}

// id returns the id of digest s, assigning the next one if s is new.
func (d *digests) id(s string) int32 {
	next := int32(len(d.keys))
	k, ok := walker.SHA256Key(digest.Digest(s))
	if !ok {
		if id, ok := d.byText[s]; ok {
			return id
		}
		d.byText[s] = next
		d.texts[next] = s
		d.keys = append(d.keys, [32]byte{})
		d.isText = append(d.isText, true)
		return next
	}
	p := prefix(&k)
	if id, ok := d.byPrefix[p]; !ok {
		d.byPrefix[p] = next
	} else if d.keys[id] == k {
		return id
	} else if id, ok := d.byKey[k]; ok {
		return id
	} else {
		d.byKey[k] = next
	}
	d.keys = append(d.keys, k)
	d.isText = append(d.isText, false)
	return next
}

// lookup returns the id of digest s, or false when it has none.
func (d *digests) lookup(s string) (int32, bool) {
	k, ok := walker.SHA256Key(digest.Digest(s))
	if !ok {
		id, ok := d.byText[s]
		return id, ok
	}
	if id, ok := d.byPrefix[prefix(&k)]; ok && d.keys[id] == k {
		return id, true
	} else if !ok {
		return 0, false
	}
	id, ok := d.byKey[k]
	return id, ok
}

func (d *digests) len() int { return len(d.keys) }

// text returns the digest of id as the database holds it.
func (d *digests) text(id int32) string {
	if d.isText[id] {
		return d.texts[id]
	}
	var b [len(sha256Prefix) + 64]byte
	copy(b[:], sha256Prefix)
	hex.Encode(b[len(sha256Prefix):], d.keys[id][:])
	return string(b[:])
}

// compare orders ids as their texts sort (SQLite's BINARY collation).
func (d *digests) compare(a, b int32) int {
	if a == b {
		return 0
	}
	if !d.isText[a] && !d.isText[b] {
		return bytes.Compare(d.keys[a][:], d.keys[b][:])
	}
	return strings.Compare(d.text(a), d.text(b))
}

// Reference kinds the garbage collector follows, as bits of graph.refKinds.
const (
	refConfig uint8 = 1 << iota
	refLayer
	refChild
)

// ref is one reference of a manifest's body: a config, layer or index
// child (subject is not followed by the garbage collector, and not kept).
type ref struct {
	digest   int32
	kind     uint8 // refConfig, refLayer or refChild
	position int32
}

// graph is what the derived tables are computed from: every repository,
// tag, revision, blob and manifest reference of the index, with digests as
// ids. It holds no manifest body and no row the derived tables do not
// need: about 40 bytes a blob and 12 a reference.
type graph struct {
	d *digests

	repos   []repo
	repoIdx map[int64]int32 // repos.id to index in repos

	revs   []revision
	revIdx map[revKey]int32
	tags   []tagRow
	tagged map[revKey]bool // the digests a repository's tags name

	// per digest id
	revDigest []bool  // some revision has this digest
	blobSize  []int64 // -1: not a blob
	blobMTime []int64 // noTime: NULL
	refKinds  []uint8 // how references name it (refConfig | refLayer | refChild)
	mIdx      []int32 // index in manifests, or -1

	manifests []manifest
	refs      []ref

	// the revisions of the same repository that a revision's body lists as
	// index children, and the other way round: few revisions have any
	children, parents map[int32][]int32

	// What patch changed, for repoScope and usageScope: the repositories
	// read again (by index in repos), the digests that those and the
	// repositories gone used before (see usesOf), and the blobs and
	// manifests that came or went. Not in the snapshot.
	patchedRepos                []bool
	patchedUses, patchedDigests []int32
}

type repo struct {
	id      int64
	name    string
	listed  bool
	hasTags bool           // tags or tag history: the registry sees a tags/ directory
	tagged  map[int32]bool // digests its tags name
	revs    []int32        // its revisions, in digest order
	tagRows []int32        // its tags
}

type revKey struct {
	repo   int32 // index in graph.repos
	digest int32
}

type revision struct {
	repo   int32
	digest int32
	target int32
}

// manifest is a row of manifests, or a digest that only refs names as a
// manifest (which the index never writes, but derive would not lose).
type manifest struct {
	row              bool  // a row of manifests
	created          int64 // noTime: NULL
	subject          int32 // digest id; -1: NULL
	refStart, refEnd int32 // its references are refs[refStart:refEnd]
}

type tagRow struct {
	repo     int32
	name     string
	digest   int32
	pushedAt int64 // noTime: NULL
}

// rev returns the revision of repository r at digest d.
func (g *graph) rev(r, d int32) (int32, bool) {
	if !g.revDigest[d] {
		return 0, false
	}
	i, ok := g.revIdx[revKey{r, d}]
	return i, ok
}

func (g *graph) isBlob(d int32) bool { return g.blobSize[d] >= 0 }

// refsOf returns the references of manifest id m: the config first, then
// layers or children in the order the body lists them.
func (g *graph) refsOf(m int32) []ref {
	if i := g.mIdx[m]; i >= 0 {
		return g.refs[g.manifests[i].refStart:g.manifests[i].refEnd]
	}
	return nil
}

// usesOf appends to buf manifest m and what its body references, as
// uses counts them for a revision at m.
func (g *graph) usesOf(m int32, buf []int32) []int32 {
	buf = append(buf, m)
	for _, r := range g.refsOf(m) {
		buf = append(buf, r.digest)
	}
	return buf
}

// isManifest says whether digest d has a row in manifests.
func (g *graph) isManifest(d int32) bool { return g.mIdx[d] >= 0 && g.manifests[g.mIdx[d]].row }

// created is manifests.created of d, or noTime.
func (g *graph) created(d int32) int64 {
	if i := g.mIdx[d]; i >= 0 {
		return g.manifests[i].created
	}
	return noTime
}

// subject is manifests.subject_digest of d, or -1.
func (g *graph) subject(d int32) int32 {
	if i := g.mIdx[d]; i >= 0 {
		return g.manifests[i].subject
	}
	return -1
}

// sizeHint is how many rows the tables hold, when known, so that the
// graph's arrays and maps are made at their size rather than grown.
type sizeHint struct {
	blobs, manifests, revisions, tags int
}

// loadGraph reads the graph from the tables of tx, each in the order of
// its rows, into a graphBuilder. Blobs come first, so that their ids are 0
// to len(blobs)-1; a manifest's references come together (the writer
// writes them with the manifest), each manifest's into one span of refs.
func loadGraph(ctx context.Context, tx *sql.Tx, hint sizeHint) (*graph, error) {
	b := newGraphBuilder(hint)
	g := b.g
	err := queryEach(ctx, tx, "read repositories", `SELECT id, name, listed FROM repos ORDER BY id`, func(rows *sql.Rows) error {
		var r repo
		if err := rows.Scan(&r.id, &r.name, &r.listed); err != nil {
			return err
		}
		b.addRepo(r.id, r.name, r.listed)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = queryEach(ctx, tx, "read tag history", `SELECT DISTINCT repo_id FROM tag_history`, func(rows *sql.Rows) error {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		if i, ok := g.repoIdx[id]; ok {
			g.repos[i].hasTags = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = scanChunked(ctx, tx, "read blobs", "blobs", "", []string{"digest", "size", "modified_at"}, func(f []string) error {
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return fmt.Errorf("size of blob %s: %w", f[0], err)
		}
		mtime := int64(noTime)
		if f[2] != "" {
			if mtime, err = strconv.ParseInt(f[2], 10, 64); err != nil {
				return fmt.Errorf("time of blob %s: %w", f[0], err)
			}
		}
		b.blob(f[0], size, mtime)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = scanChunked(ctx, tx, "read manifests", "manifests", "", []string{"digest", "created", "subject_digest"}, func(f []string) error {
		created := int64(noTime)
		if f[1] != "" {
			var err error
			if created, err = strconv.ParseInt(f[1], 10, 64); err != nil {
				return fmt.Errorf("created of manifest %s: %w", f[0], err)
			}
		}
		b.manifest(f[0], created, f[2])
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = scanChunked(ctx, tx, "read references", "refs", "kind IN ('config', 'layer', 'child')",
		[]string{"manifest_digest", "kind", "position", "digest"}, func(f []string) error {
			pos, err := strconv.ParseInt(f[2], 10, 32)
			if err != nil {
				return fmt.Errorf("position of a reference of %s: %w", f[0], err)
			}
			b.spans.add(g, f[0], f[1], f[3], int32(pos))
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = scanChunked(ctx, tx, "read revisions", "revisions", "", []string{"repo_id", "digest", "target"}, func(f []string) error {
		repoID, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return fmt.Errorf("repository of revision %s: %w", f[1], err)
		}
		r, ok := g.repoIdx[repoID]
		if !ok {
			return fmt.Errorf("revision %s of repository id %d, which repos lacks", f[1], repoID)
		}
		b.revision(r, f[1], f[2])
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := g.readTags(ctx, tx, "", errNoRepo); err != nil {
		return nil, err
	}
	return b.finish(), nil
}

// graphBuilder assembles a graph from the rows of the tables, each table's
// in the order of its rows: loadGraph feeds it what it reads back, a full
// build's writer what it inserts, as it inserts it (see writer.graph).
type graphBuilder struct {
	g         *graph
	manifests []manifestRow
	spans     refSpans
	// When the rows come from the writer: the keys of revisions so far
	// (the table keeps the first of two rows with one key, keepFirst), and
	// the tags, which loadGraph reads by repository and name.
	revSeen map[revKey]bool
	tags    []pendingTag
}

// manifestRow is a row of manifests, as the builder keeps it until finish.
type manifestRow struct {
	id, subject int32 // subject -1: none
	created     int64
}

func newGraphBuilder(hint sizeHint) *graphBuilder {
	g := &graph{
		d:         newDigests(hint.blobs),
		repoIdx:   map[int64]int32{},
		revs:      make([]revision, 0, hint.revisions),
		tags:      make([]tagRow, 0, hint.tags),
		blobSize:  make([]int64, 0, hint.blobs),
		blobMTime: make([]int64, 0, hint.blobs),
	}
	return &graphBuilder{g: g,
		manifests: make([]manifestRow, 0, hint.manifests),
		spans:     refSpans{spans: make([]refSpan, 0, hint.manifests)}}
}

// addRepo adds a repository; they come in the order of their ids.
func (b *graphBuilder) addRepo(id int64, name string, listed bool) {
	b.g.repoIdx[id] = int32(len(b.g.repos))
	b.g.repos = append(b.g.repos, repo{id: id, name: name, listed: listed})
}

// blob adds a row of blobs. A digest's second row, which blobs' key
// forbids, changes nothing.
func (b *graphBuilder) blob(d string, size, mtime int64) {
	g := b.g
	id := g.d.id(d)
	for int(id) >= len(g.blobSize) {
		g.blobSize = append(g.blobSize, -1)
		g.blobMTime = append(g.blobMTime, noTime)
	}
	if g.blobSize[id] >= 0 {
		return
	}
	g.blobSize[id], g.blobMTime[id] = size, mtime
}

// manifest adds a row of manifests; subject is "" for NULL.
func (b *graphBuilder) manifest(d string, created int64, subject string) {
	m := manifestRow{id: b.g.d.id(d), created: created, subject: -1}
	if subject != "" {
		m.subject = b.g.d.id(subject)
	}
	b.manifests = append(b.manifests, m)
}

// revision adds a row of revisions of repository r (an index in repos).
func (b *graphBuilder) revision(r int32, d, target string) {
	g := b.g
	v := revision{repo: r, digest: g.d.id(d)}
	if b.revSeen != nil {
		if b.revSeen[revKey{r, v.digest}] {
			return
		}
		b.revSeen[revKey{r, v.digest}] = true
	}
	v.target = g.d.id(target)
	g.repos[r].revs = append(g.repos[r].revs, int32(len(g.revs)))
	g.revs = append(g.revs, v)
}

// pendingTag is a row of tags the writer inserted, kept until finish,
// which adds them in the order loadGraph reads them.
type pendingTag struct {
	repo     int32
	name     string
	digest   string
	pushedAt int64
}

// tag adds a row of tags from the writer, in any order.
func (b *graphBuilder) tag(t pendingTag) {
	b.tags = append(b.tags, t)
}

// finish completes the graph once every row is in: the manifests with
// their references in the order the garbage collector follows them, each
// repository's revisions in digest order, and the lookups (link).
func (b *graphBuilder) finish() *graph {
	g := b.g
	// Sorted stably, the first of two rows with one key is the row the
	// table kept.
	slices.SortStableFunc(b.tags, func(x, y pendingTag) int {
		return cmp.Or(cmp.Compare(x.repo, y.repo), strings.Compare(x.name, y.name))
	})
	for i, t := range b.tags {
		if i > 0 && t.repo == b.tags[i-1].repo && t.name == b.tags[i-1].name {
			continue
		}
		g.addTag(tagRow{repo: t.repo, name: t.name, digest: g.d.id(t.digest), pushedAt: t.pushedAt})
	}
	b.tags, b.revSeen = nil, nil
	// Every digest has its id: the maps that looked them up, the largest
	// part of the graph, go before what follows allocates the arrays and
	// lookups derive needs; collected first, they make room for them (a
	// full build's peak on the large bench tree: 308 -> 290 MB).
	g.d.byPrefix, g.d.byKey, g.d.byText = nil, nil, nil
	runtime.GC()
	n := g.d.len()
	g.blobSize = slices.Grow(g.blobSize, n-len(g.blobSize))
	g.blobMTime = slices.Grow(g.blobMTime, n-len(g.blobMTime))
	g.mIdx = slices.Grow(g.mIdx, n-len(g.mIdx))
	g.grow()
	g.manifests = make([]manifest, 0, len(b.manifests))
	for _, m := range b.manifests {
		if g.mIdx[m.id] < 0 {
			g.mIdx[m.id] = int32(len(g.manifests))
			g.manifests = append(g.manifests, manifest{})
		}
		g.manifests[g.mIdx[m.id]] = manifest{row: true, created: m.created, subject: m.subject}
	}
	b.manifests = nil
	// Each manifest's references are one span; should a manifest's come in
	// two (nothing writes them so), they are gathered with a sort.
	for _, sp := range b.spans.spans {
		i := g.mIdx[sp.manifest]
		if i < 0 {
			i = int32(len(g.manifests))
			g.mIdx[sp.manifest] = i
			g.manifests = append(g.manifests, manifest{created: noTime, subject: -1})
		}
		if g.manifests[i].refEnd != 0 {
			g.gatherRefs(b.spans.spans)
			break
		}
		g.manifests[i].refStart, g.manifests[i].refEnd = sp.start, sp.end
	}
	b.spans = refSpans{}
	// The garbage collector follows a body's references in its order: the
	// config, then the layers or the children by position.
	for _, m := range g.manifests {
		if rs := g.refs[m.refStart:m.refEnd]; !slices.IsSortedFunc(rs, compareRefs) {
			slices.SortFunc(rs, compareRefs)
		}
	}
	for i := range g.repos {
		r := &g.repos[i]
		slices.SortFunc(r.revs, func(a, b int32) int { return g.d.compare(g.revs[a].digest, g.revs[b].digest) })
	}
	g.link()
	return g
}

// errNoRepo is why loadGraph fails on a row of a repository repos lacks.
var errNoRepo = errors.New("which repos lacks")

// readTags adds the tags that meet where (every one when ""), by
// repository and name. A tag of a repository the graph lacks is an error
// wrapping missing.
func (g *graph) readTags(ctx context.Context, tx *sql.Tx, where string, missing error) error {
	if where != "" {
		where = " WHERE " + where
	}
	return queryEach(ctx, tx, "read tags", `SELECT repo_id, name, digest, pushed_at FROM tags`+where+` ORDER BY repo_id, name`, func(rows *sql.Rows) error {
		var (
			repoID   int64
			name, d  string
			pushedAt sql.NullInt64
		)
		if err := rows.Scan(&repoID, &name, &d, &pushedAt); err != nil {
			return err
		}
		r, ok := g.repoIdx[repoID]
		if !ok {
			return fmt.Errorf("tag %s of repository id %d, %w", name, repoID, missing)
		}
		t := tagRow{repo: r, name: name, digest: g.d.id(d), pushedAt: noTime}
		if pushedAt.Valid {
			t.pushedAt = pushedAt.Int64
		}
		g.addTag(t)
		return nil
	})
}

// addTag adds a row of tags; they come by repository and name.
func (g *graph) addTag(t tagRow) {
	g.repos[t.repo].hasTags = true
	g.repos[t.repo].tagRows = append(g.repos[t.repo].tagRows, int32(len(g.tags)))
	g.tags = append(g.tags, t)
}

// grow extends the arrays indexed by digest id to every id there is: an id
// beyond blobSize is no blob, beyond mIdx no manifest.
func (g *graph) grow() {
	n := g.d.len()
	for len(g.blobSize) < n {
		g.blobSize = append(g.blobSize, -1)
		g.blobMTime = append(g.blobMTime, noTime)
	}
	for len(g.mIdx) < n {
		g.mIdx = append(g.mIdx, -1)
	}
}

// link computes what the graph's lookups need from its rows: the
// revisions by repository and digest, the digests tags name, how
// references name each digest, and which revisions are index children of
// which. The rows must be complete: repositories with their revisions (in
// digest order) and tags, every manifest with its references in the order
// the garbage collector follows them, and an id for every digest.
func (g *graph) link() {
	// Every digest has its id now: the maps that looked them up are the
	// largest part of the graph, and derive has no more use for them.
	// Dropped first, they are garbage before the lookups below are made.
	g.d.byPrefix, g.d.byKey, g.d.byText = nil, nil, nil
	n := g.d.len()
	g.revIdx = make(map[revKey]int32, len(g.revs))
	g.revDigest = make([]bool, n)
	for i, v := range g.revs {
		g.revIdx[revKey{v.repo, v.digest}] = int32(i)
		g.revDigest[v.digest] = true
	}
	g.tagged = make(map[revKey]bool, len(g.tags))
	for _, t := range g.tags {
		g.tagged[revKey{t.repo, t.digest}] = true
	}
	g.refKinds = make([]uint8, n)
	for _, m := range g.manifests {
		for _, r := range g.refs[m.refStart:m.refEnd] {
			g.refKinds[r.digest] |= r.kind
		}
	}
	g.linkChildren()
}

// refSpan is where one manifest's references were read into refs.
type refSpan struct{ manifest, start, end int32 }

// refSpans are the spans of references read so far, the last one's
// manifest by its text.
type refSpans struct {
	spans []refSpan
	last  string
}

// add appends a row of refs (with a kind the garbage collector follows)
// to g.refs, in a new span when the row before was another manifest's.
func (s *refSpans) add(g *graph, manifest, kind, d string, position int32) {
	// The previous row's manifest is nearly always this one's: compared
	// as text, it saves a lookup.
	if len(s.spans) == 0 || manifest != s.last {
		s.last = manifest
		s.spans = append(s.spans, refSpan{manifest: g.d.id(manifest), start: int32(len(g.refs))})
	}
	r := ref{digest: g.d.id(d), position: position}
	switch kind {
	case "config":
		r.kind = refConfig
	case "layer":
		r.kind = refLayer
	default:
		r.kind = refChild
	}
	g.refs = append(g.refs, r)
	s.spans[len(s.spans)-1].end = int32(len(g.refs))
}

// gatherRefs rearranges refs so that each manifest's references are one
// span, whatever the order they were read in.
func (g *graph) gatherRefs(spans []refSpan) {
	type owned struct {
		manifest int32
		ref
	}
	all := make([]owned, 0, len(g.refs))
	for _, sp := range spans {
		for _, r := range g.refs[sp.start:sp.end] {
			all = append(all, owned{sp.manifest, r})
		}
	}
	slices.SortStableFunc(all, func(a, b owned) int { return cmp.Compare(a.manifest, b.manifest) })
	for i := range g.manifests {
		g.manifests[i].refStart, g.manifests[i].refEnd = 0, 0
	}
	for i, o := range all {
		g.refs[i] = o.ref
		m := &g.manifests[g.mIdx[o.manifest]]
		if i == 0 || all[i-1].manifest != o.manifest {
			m.refStart = int32(i)
		}
		m.refEnd = int32(i + 1)
	}
}

// linkChildren records, for each revision, the revisions of its repository
// that its body lists as index children, and the other way round.
func (g *graph) linkChildren() {
	g.children, g.parents = map[int32][]int32{}, map[int32][]int32{}
	for i := range g.revs {
		v := &g.revs[i]
		for _, r := range g.refsOf(v.target) {
			if r.kind != refChild {
				continue
			}
			c, ok := g.rev(v.repo, r.digest)
			if !ok || slices.Contains(g.children[int32(i)], c) {
				continue
			}
			g.children[int32(i)] = append(g.children[int32(i)], c)
			g.parents[c] = append(g.parents[c], int32(i))
		}
	}
}

// compareRefs orders a body's references as the garbage collector
// follows them.
func compareRefs(a, b ref) int {
	return cmp.Or(cmp.Compare(configLast(a.kind), configLast(b.kind)), cmp.Compare(a.position, b.position))
}

// configLast is 0 for a config reference and 1 for the others, which a
// body lists after its config.
func configLast(kind uint8) int {
	if kind == refConfig {
		return 0
	}
	return 1
}

// chunkRows is how many rows of a table scanChunked reads at a time.
const chunkRows = 16384

// scanChunked calls each with the values of columns (text; "" for NULL)
// of every row of table that meets where (none when ""). The rows come
// chunkRows at a time, each column of a chunk as one string that SQLite
// concatenates: through database/sql every row costs a Go string per
// column and some bookkeeping, which for the 400k blobs and 600k
// references of a large registry took longer than the rest of derive.
// The values must not hold the ASCII record separator (0x1e), nor be ""
// when not NULL: digests, sizes, times and reference kinds never do.
func scanChunked(ctx context.Context, tx *sql.Tx, what, table, where string, columns []string, each func([]string) error) error {
	var last sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(rowid) FROM `+table).Scan(&last); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	var aggs []string
	for _, c := range columns {
		aggs = append(aggs, "group_concat(coalesce("+c+", ''), char(30))")
	}
	if where != "" {
		where = " AND " + where
	}
	q := `SELECT ` + strings.Join(aggs, ", ") + ` FROM ` + table + ` WHERE rowid > ? AND rowid <= ?` + where
	chunks := make([]sql.NullString, len(columns))
	dest := make([]any, len(columns))
	for i := range chunks {
		dest[i] = &chunks[i]
	}
	rest := make([]string, len(columns))
	values := make([]string, len(columns))
	for lo := int64(0); lo < last.Int64; lo += chunkRows {
		if err := tx.QueryRowContext(ctx, q, lo, lo+chunkRows).Scan(dest...); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if !chunks[0].Valid {
			continue // no row in this range
		}
		for i := range chunks {
			rest[i] = chunks[i].String
		}
		for more := true; more; {
			for i := range rest {
				values[i], rest[i], more = strings.Cut(rest[i], "\x1e")
			}
			if err := each(values); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
	}
	return nil
}

// queryEach runs q in tx and calls each for every row; what names the
// action for errors.
func queryEach(ctx context.Context, tx *sql.Tx, what, q string, each func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
