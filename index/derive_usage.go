package index

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// reachRow is one row of tag_reach.
type reachRow struct {
	rev    int32 // revision index
	tag    int32 // tag index
	direct bool
}

// reach returns what every tag reaches: the revision its digest names in
// its repository, then recursively the revisions of the repository that
// those list as index children.
func (g *graph) reach() []reachRow {
	var (
		rows  []reachRow
		seen  = make([]int32, len(g.revs)) // tag index + 1 of the last tag that reached the revision
		queue []int32
	)
	for ti, t := range g.tags {
		v, ok := g.rev(t.repo, t.digest)
		if !ok {
			continue
		}
		stamp := int32(ti) + 1
		seen[v] = stamp
		queue = append(queue[:0], v)
		for len(queue) > 0 {
			x := queue[0]
			queue = queue[1:]
			rows = append(rows, reachRow{rev: x, tag: int32(ti), direct: x == v})
			for _, c := range g.children[x] {
				if seen[c] != stamp {
					seen[c] = stamp
					queue = append(queue, c)
				}
			}
		}
	}
	return rows
}

// family returns revision vi and, recursively, the revisions of its
// repository that their bodies list as index children, vi first.
func (g *graph) family(vi int32, buf []int32) []int32 {
	buf = append(buf[:0], vi)
	for i := 0; i < len(buf); i++ {
		for _, c := range g.children[buf[i]] {
			if !slices.Contains(buf, c) {
				buf = append(buf, c)
			}
		}
	}
	return buf
}

// uses is what the revisions use, summed per revision family and per
// repository.
type uses struct {
	familySize  []int32 // per revision
	familyBytes []int64 // per revision
	repos       []repoUse
	scope       []bool // per repository, with a scope: see usageScope
}

type repoUse struct {
	blobs, total, unique, shared int64
}

// uses works out, for every blob, which revisions use it (as their body,
// or through a config, layer or index child reference of their body), and
// from that what each repository uses and what each revision's family
// alone uses.
func (g *graph) uses(scope *repoScope) uses {
	u := uses{
		familySize:  make([]int32, len(g.revs)),
		familyBytes: make([]int64, len(g.revs)),
		repos:       make([]repoUse, len(g.repos)),
	}
	// Families: most revisions are images, alone in theirs; an index's is
	// kept sorted for the membership test below.
	families := map[int32][]int32{}
	var buf []int32
	for i := range g.revs {
		if len(g.children[int32(i)]) == 0 {
			u.familySize[i] = 1
			continue
		}
		buf = g.family(int32(i), buf)
		f := slices.Clone(buf)
		slices.Sort(f)
		families[int32(i)] = f
		u.familySize[i] = int32(len(f))
	}
	inFamily := func(p, v int32) bool {
		if f, ok := families[p]; ok {
			_, found := slices.BinarySearch(f, v)
			return found
		}
		return p == v
	}

	// users: the revisions using each digest, counted then filled, each
	// revision once per digest.
	n := g.d.len()
	start := make([]int32, n+1)
	stamp := make([]int32, n) // revision index + 1 that last used the digest
	each := func(vi int32, use func(d int32)) {
		v := &g.revs[vi]
		s := vi + 1
		if stamp[v.target] != s {
			stamp[v.target] = s
			use(v.target)
		}
		for _, r := range g.refsOf(v.target) {
			if stamp[r.digest] != s {
				stamp[r.digest] = s
				use(r.digest)
			}
		}
	}
	for vi := range g.revs {
		each(int32(vi), func(d int32) { start[d+1]++ })
	}
	for i := 1; i <= n; i++ {
		start[i] += start[i-1]
	}
	users := make([]int32, start[n])
	next := slices.Clone(start[:n])
	clear(stamp)
	for vi := range g.revs {
		each(int32(vi), func(d int32) {
			users[next[d]] = int32(vi)
			next[d]++
		})
	}

	repoSeen := make([]int32, len(g.repos)) // digest id + 1 that last counted the repository
	revSeen := make([]int32, len(g.revs))   // digest id + 1 that last reached the revision
	var repos, up []int32
	for d := range n {
		size := g.blobSize[d]
		us := users[start[d]:start[d+1]]
		if size < 0 || len(us) == 0 {
			continue
		}
		s := int32(d) + 1
		repos = repos[:0]
		for _, vi := range us {
			if r := g.revs[vi].repo; repoSeen[r] != s {
				repoSeen[r] = s
				repos = append(repos, r)
			}
		}
		for _, r := range repos {
			ru := &u.repos[r]
			ru.blobs++
			ru.total += size
			if len(repos) == 1 {
				ru.unique += size
			} else {
				ru.shared += size
			}
		}
		if len(repos) != 1 {
			continue
		}
		// The families holding every user are those of the first user and
		// of the indexes above it, that hold the others too.
		up = append(up[:0], us[0])
		revSeen[us[0]] = s
		for i := 0; i < len(up); i++ {
			p := up[i]
			for _, q := range g.parents[p] {
				if revSeen[q] != s {
					revSeen[q] = s
					up = append(up, q)
				}
			}
			if int(u.familySize[p]) < len(us) {
				continue
			}
			all := true
			for _, v := range us[1:] {
				if !inFamily(p, v) {
					all = false
					break
				}
			}
			if all {
				u.familyBytes[p] += size
			}
		}
	}
	if scope != nil {
		u.scope = g.usageScope(scope, func(d int32) []int32 { return users[start[d]:start[d+1]] })
	}
	return u
}

// usageScope returns, by repository, those whose revision_usage rows may
// differ from the table's after an incremental build: the ones in scope,
// and those with a revision using (as uses counts) a digest that
//   - came or went, as a blob or as a manifest (its size, created time or
//     subject, or its references, may have changed); or
//   - a repository in scope (or gone) used before or uses now, if at most one
//     repository out of scope uses it: whether it is some family's alone
//     may have changed. One that two out of scope use was shared before
//     and still is, and no family counts it.
//
// Every other row depends only on its repository's own rows, which are as
// they were.
func (g *graph) usageScope(scope *repoScope, usersOf func(d int32) []int32) []bool {
	in := slices.Clone(scope.repos)
	for _, d := range g.patchedDigests {
		for _, vi := range usersOf(d) {
			in[g.revs[vi].repo] = true
		}
	}
	used := g.patchedUses
	for ri := range g.repos {
		if scope.repos[ri] {
			for _, vi := range g.repos[ri].revs {
				used = g.usesOf(g.revs[vi].target, used)
			}
		}
	}
	for _, d := range used {
		other, many := int32(-1), false
		for _, vi := range usersOf(d) {
			r := g.revs[vi].repo
			if scope.repos[r] || r == other {
				continue
			}
			if other >= 0 {
				many = true
				break
			}
			other = r
		}
		if other >= 0 && !many {
			in[other] = true
		}
	}
	return in
}

// derivedTable is the content of one derived table: rows rows, in the
// order of its primary key, which is its first keyColumns columns; row
// fills buf with the values of row i. When where is set, the rows are
// those of the table that it selects, and the others stay as they are.
type derivedTable struct {
	name       string
	columns    []string
	keyColumns int
	rows       int
	row        func(i int, buf []any)
	where      string
}

// repoScope names the repositories an incremental build read again or
// forgot, whose tag_reach rows it compares. A tag reaches only revisions
// of its own repository, through the bodies of their manifests, and a
// repository whose revision's manifest came or went is read again; so
// the rows of every other repository are the ones the table holds.
// revision_usage's rows are compared in more (see usageScope).
type repoScope struct {
	repos []bool // by index in graph.repos
	ids   string // an SQL query of their repos.id, and those of the repositories gone
}

// where returns the SQL condition on repo_id that selects the rows of the
// repositories of scope, and of those in also.
func (s *repoScope) where(g *graph, also []bool) string {
	var b strings.Builder
	b.WriteString("repo_id IN (")
	b.WriteString(s.ids)
	for ri, in := range also {
		if in && !s.repos[ri] {
			b.WriteString(" UNION ALL VALUES (")
			b.WriteString(strconv.FormatInt(g.repos[ri].id, 10))
			b.WriteString(")")
		}
	}
	b.WriteString(")")
	return b.String()
}

// derivedTables computes every derived table, each when its function is
// called. With parallel, what the usage sums and the two replays of the
// garbage collector's mark need is computed from the start on other
// goroutines: on a second core, while tag_reach is computed and written.
// The graph is only read meanwhile. That holds more memory at once: a
// full build, at its peak here, computes one after the other.
func (g *graph) derivedTables(driver string, parallel bool, scope *repoScope) []func() derivedTable {
	usesC := make(chan uses, 1)
	gcC := make(chan gcResult, 1)
	usesNow := func() { usesC <- g.uses(scope) }
	gcNow := func() { gcC <- g.gcResult(driver) }
	if parallel {
		go usesNow()
		go gcNow()
		usesNow, gcNow = func() {}, func() {}
	}

	// Revisions in the order of revision_usage's key; tag_reach's follows
	// it, then the tag's name. Each repository's are in digest order
	// already: sorting them all again took a tenth of a second on the
	// large bench tree. The order is checked, in case.
	byKey := func(a, b int32) int {
		va, vb := &g.revs[a], &g.revs[b]
		return cmp.Or(cmp.Compare(va.repo, vb.repo), g.d.compare(va.digest, vb.digest))
	}
	revOrder := make([]int32, 0, len(g.revs))
	for _, r := range g.repos {
		revOrder = append(revOrder, r.revs...)
	}
	if len(revOrder) != len(g.revs) || !slices.IsSortedFunc(revOrder, byKey) {
		revOrder = revOrder[:len(g.revs)]
		for i := range revOrder {
			revOrder[i] = int32(i)
		}
		slices.SortFunc(revOrder, byKey)
	}
	revRank := make([]int32, len(g.revs))
	for i, vi := range revOrder {
		revRank[vi] = int32(i)
	}
	reach := g.reach()
	tagCount := make([]int64, len(g.revs))
	for _, r := range reach {
		tagCount[r.rev]++
	}
	var where string
	if scope != nil {
		reach = slices.DeleteFunc(reach, func(r reachRow) bool { return !scope.repos[g.revs[r.rev].repo] })
		where = scope.where(g, nil)
	}
	slices.SortFunc(reach, func(a, b reachRow) int {
		return cmp.Or(cmp.Compare(revRank[a.rev], revRank[b.rev]), cmp.Compare(g.tags[a.tag].name, g.tags[b.tag].name))
	})
	tagReach := derivedTable{name: "tag_reach", columns: []string{"repo_id", "digest", "tag", "direct"}, keyColumns: 3,
		rows: len(reach), where: where,
		row: func(i int, buf []any) {
			r := reach[i]
			v := &g.revs[r.rev]
			buf[0], buf[1], buf[2], buf[3] = g.repos[v.repo].id, g.d.text(v.digest), g.tags[r.tag].name, boolInt(r.direct)
		}}

	var u uses
	waitUses := sync.OnceFunc(func() { usesNow(); u = <-usesC })
	usageOrder := revOrder
	revUsage := derivedTable{name: "revision_usage",
		columns:    []string{"repo_id", "digest", "tags", "parents", "family_size", "family_bytes", "created", "subject"},
		keyColumns: 2, rows: len(revOrder),
		row: func(i int, buf []any) {
			vi := usageOrder[i]
			v := &g.revs[vi]
			var created, subject any
			if t := g.newestCreated(v.target); t != noTime {
				created = t
			}
			if s := g.subject(v.target); s >= 0 {
				subject = g.d.text(s)
			}
			buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], buf[6], buf[7] = g.repos[v.repo].id, g.d.text(v.digest),
				tagCount[vi], int64(len(g.parents[vi])), int64(u.familySize[vi]), u.familyBytes[vi], created, subject
		}}

	repoUsage := derivedTable{name: "repo_usage",
		columns: []string{"repo_id", "name", "tags", "revisions", "untagged", "blobs",
			"total_bytes", "unique_bytes", "shared_bytes", "last_push"},
		keyColumns: 1, rows: len(g.repos),
		row: func(i int, buf []any) {
			r := &g.repos[i]
			var untagged int64
			for _, vi := range r.revs {
				if tagCount[vi] == 0 {
					untagged++
				}
			}
			var lastPush any
			for _, ti := range r.tagRows {
				if at := g.tags[ti].pushedAt; at != noTime && (lastPush == nil || at > lastPush.(int64)) {
					lastPush = at
				}
			}
			ru := u.repos[i]
			buf[0], buf[1], buf[2], buf[3], buf[4] = r.id, r.name, int64(len(r.tagRows)), int64(len(r.revs)), untagged
			buf[5], buf[6], buf[7], buf[8], buf[9] = ru.blobs, ru.total, ru.unique, ru.shared, lastPush
		}}

	var gc gcResult
	waitGC := sync.OnceFunc(func() { gcNow(); gc = <-gcC })
	gcBlobs := derivedTable{name: "gc_blobs",
		columns:    []string{"digest", "swept_default", "swept_untagged", "what", "size", "modified_at"},
		keyColumns: 1,
		row: func(i int, buf []any) {
			d := gc.swept[i]
			var mtime any
			if t := g.blobMTime[d]; t != noTime {
				mtime = t
			}
			buf[0], buf[1], buf[2], buf[3], buf[4], buf[5] = g.d.text(d), boolInt(!gc.def.marked[d]), boolInt(!gc.unt.marked[d]),
				g.blobWhat(d), g.blobSize[d], mtime
		}}
	gcUnreached := derivedTable{name: "gc_unreached", columns: []string{"digest", "default_mode", "untagged_mode"},
		keyColumns: 1,
		row: func(i int, buf []any) {
			d := gc.unreached[i]
			buf[0], buf[1], buf[2] = g.d.text(d), boolInt(!gc.def.visited[d]), boolInt(!gc.unt.visited[d])
		}}
	gcRevisions := derivedTable{name: "gc_revisions", columns: []string{"repo_id", "digest"}, keyColumns: 2,
		row: func(i int, buf []any) {
			v := &g.revs[gc.queued[i]]
			buf[0], buf[1] = g.repos[v.repo].id, g.d.text(v.digest)
		}}
	return []func() derivedTable{
		func() derivedTable { return tagReach },
		func() derivedTable {
			waitUses()
			if scope != nil {
				usageOrder = slices.DeleteFunc(slices.Clone(revOrder), func(vi int32) bool { return !u.scope[g.revs[vi].repo] })
				revUsage.rows, revUsage.where = len(usageOrder), scope.where(g, u.scope)
			}
			return revUsage
		},
		func() derivedTable { waitUses(); return repoUsage },
		func() derivedTable { waitGC(); gcBlobs.rows = len(gc.swept); return gcBlobs },
		func() derivedTable { waitGC(); gcRevisions.rows = len(gc.queued); return gcRevisions },
		func() derivedTable { waitGC(); gcUnreached.rows = len(gc.unreached); return gcUnreached },
	}
}

// gcResult is what the garbage collector's mark, replayed in both modes,
// makes of the graph: the blobs either sweeps and the manifests either
// leaves unreached, in digest order, and the revisions --delete-untagged
// deletes, in repository and digest order.
type gcResult struct {
	def, unt                 gcMark
	swept, unreached, queued []int32
}

func (g *graph) gcResult(driver string) gcResult {
	r := gcResult{def: g.mark(driver, false), unt: g.mark(driver, true)}
	for d := range int32(g.d.len()) {
		if g.isBlob(d) && (!r.def.marked[d] || !r.unt.marked[d]) {
			r.swept = append(r.swept, d)
		}
		if g.isManifest(d) && (!r.def.visited[d] || !r.unt.visited[d]) {
			r.unreached = append(r.unreached, d)
		}
	}
	slices.SortFunc(r.swept, g.d.compare)
	slices.SortFunc(r.unreached, g.d.compare)
	r.queued = slices.DeleteFunc(slices.Clone(r.unt.queued), func(vi int32) bool { return r.unt.marked[g.revs[vi].digest] })
	slices.SortFunc(r.queued, func(a, b int32) int {
		va, vb := &g.revs[a], &g.revs[b]
		return cmp.Or(cmp.Compare(va.repo, vb.repo), g.d.compare(va.digest, vb.digest))
	})
	r.queued = slices.Compact(r.queued)
	return r
}

// newestCreated is when the image manifest m was created (its config's
// created), or for an index the newest of its children's that the index
// holds; noTime when unknown.
func (g *graph) newestCreated(m int32) int64 {
	if t := g.created(m); t != noTime || !g.isManifest(m) {
		return t
	}
	newest := int64(noTime)
	for _, r := range g.refsOf(m) {
		if r.kind == refChild && g.isManifest(r.digest) && g.created(r.digest) != noTime {
			newest = max(newest, g.created(r.digest))
		}
	}
	return newest
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
