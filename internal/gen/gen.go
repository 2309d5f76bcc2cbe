package gen

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// Generate writes a registry storage tree for p into dir: dir becomes the
// storage rootdirectory, holding docker/registry/v2. dir may exist but must
// not hold docker/ yet (ErrExists). Repositories are simulated and written
// p.Workers at a time, each from its own stream of randomness, so the tree
// does not depend on scheduling; blobs shared between repositories (the
// base image pool) are written last, with the time of their first use.
// Memory holds the base image pool and the repositories in flight, never
// the tree.
func Generate(ctx context.Context, dir string, p Params) (Stats, error) {
	return generate(ctx, dir, p, false)
}

// generate is Generate; dry simulates everything and counts what it would
// write (directories excepted) without touching the disk, to tune the
// rates quickly.
func generate(ctx context.Context, dir string, p Params, dry bool) (Stats, error) {
	p, err := p.withDefaults()
	if err != nil {
		return Stats{}, err
	}
	w := &writer{v2: filepath.Join(dir, "docker", "registry", "v2"), dry: dry}
	if !dry {
		if _, err := os.Lstat(filepath.Join(dir, "docker")); err == nil {
			return Stats{}, fmt.Errorf("generate into %q: %w", dir, ErrExists)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return Stats{}, fmt.Errorf("check output directory: %w", err)
		}
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return Stats{}, fmt.Errorf("create output directory: %w", err)
		}
	}
	g := newGenerator(p)
	return g.run(ctx, w)
}

type repoKind int

const (
	kindApp       repoKind = iota
	kindMirror             // mirrors an upstream family
	kindAbandoned          // _layers or _uploads only: not listed
)

type repoSpec struct {
	index  int
	name   string
	kind   repoKind
	family *family
}

type generator struct {
	p     Params
	up    *upstream
	specs []*repoSpec
}

// newGenerator builds the upstream catalog and names every repository.
// This is the only sequential part, and cheap.
func newGenerator(p Params) *generator {
	families := min(max(p.Repos/35, 12), 250)
	g := &generator{p: p, up: newUpstream(p.Seed, families, p.Start, p.End)}
	g.plan()
	return g
}

// Shares of the repositories.
const (
	mirrorRate    = 0.05 // mirror an upstream family
	nestedRate    = 0.15 // sit below another repository: team/app/worker
	topLevelRate  = 0.08 // have no organization: app
	abandonedRate = 0.01 // directories without _manifests, on top of Repos
)

func (g *generator) plan() {
	r := newRand(g.p.Seed, streamPlan, 0)
	families := newZipf(r, 1.1, len(g.up.families))
	orgs := newZipf(r, 1.05, len(orgWords))
	names := nameSet{}
	var apps []string
	for i := range g.p.Repos {
		spec := &repoSpec{index: i, family: g.up.families[families.next()]}
		switch {
		case chance(r, mirrorRate):
			prefix := pick(r, mirrorPrefixes)
			if chance(r, 0.3) {
				prefix = orgWords[orgs.next()] + "/base"
			}
			spec.kind = kindMirror
			spec.name = names.unique(prefix + "/" + spec.family.name)
		case len(apps) > 0 && chance(r, nestedRate):
			parent := apps[r.IntN(len(apps))]
			if strings.Count(parent, "/") >= 3 {
				parent = parent[:strings.LastIndex(parent, "/")]
			}
			spec.name = names.unique(parent + "/" + pick(r, componentWords))
			apps = append(apps, spec.name)
		case chance(r, topLevelRate):
			spec.name = names.unique(pick(r, appWords))
			apps = append(apps, spec.name)
		default:
			spec.name = names.unique(orgWords[orgs.next()] + "/" + pick(r, appWords))
			apps = append(apps, spec.name)
		}
		g.specs = append(g.specs, spec)
	}
	for j := range max(1, int(float64(g.p.Repos)*abandonedRate)) {
		name := orgWords[orgs.next()] + "/" + pick(r, appWords) + "-" + pick(r, []string{"new", "tmp", "test", "poc"})
		g.specs = append(g.specs, &repoSpec{index: g.p.Repos + j, name: names.unique(name), kind: kindAbandoned})
	}
}

// repoResult is what a worker hands back for one repository.
type repoResult struct {
	err     error
	stats   Stats
	shared  map[digest.Digest]time.Time // first use of each shared blob
	live    []*manifest                 // shared manifests with a revision link here
	summary Repository
	listed  bool
}

func (g *generator) build(spec *repoSpec) *repoState {
	switch spec.kind {
	case kindMirror:
		return g.buildMirror(spec)
	case kindAbandoned:
		return g.buildAbandoned(spec)
	default:
		return g.buildApp(spec)
	}
}

func (g *generator) run(ctx context.Context, w *writer) (Stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var total Stats
	if err := w.start(&total); err != nil {
		return Stats{}, err
	}

	jobs := make(chan *repoSpec)
	results := make(chan repoResult, g.p.Workers)
	var wg sync.WaitGroup
	for range g.p.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rw := w.repoWriter()
			for spec := range jobs {
				if ctx.Err() != nil {
					continue
				}
				s := g.build(spec)
				res := repoResult{shared: s.shared, listed: s.listed}
				res.stats, res.live, res.err = rw.write(s)
				if s.listed && g.p.OnRepository != nil {
					res.summary = s.summary()
				}
				results <- res
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, spec := range g.specs {
			select {
			case jobs <- spec:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()

	var firstErr error
	shared := map[digest.Digest]time.Time{}
	live := map[digest.Digest]*manifest{}
	done := 0
	for res := range results {
		if res.err != nil {
			if firstErr == nil {
				firstErr = res.err
				cancel()
			}
			continue
		}
		total.add(res.stats)
		for d, t := range res.shared {
			if first, ok := shared[d]; !ok || t.Before(first) {
				shared[d] = t
			}
		}
		for _, m := range res.live {
			live[m.digest] = m
		}
		if res.listed && g.p.OnRepository != nil {
			g.p.OnRepository(res.summary)
		}
		done++
		if g.p.Progress != nil {
			g.p.Progress(done, len(g.specs))
		}
	}
	if firstErr != nil {
		return total, firstErr
	}
	if err := ctx.Err(); err != nil {
		return total, err
	}

	for _, m := range live {
		countManifest(&total, m)
	}
	st, err := g.writeShared(ctx, w, shared)
	total.add(st)
	return total, err
}

func countManifest(st *Stats, m *manifest) {
	st.Manifests++
	if m.isIndex() {
		st.Indexes++
	}
	if m.isArtifact() {
		st.Artifacts++
	}
}

// writeShared writes the shared blobs some repository used, each with the
// time of its first use.
func (g *generator) writeShared(ctx context.Context, w *writer, shared map[digest.Digest]time.Time) (Stats, error) {
	type job struct {
		b  *blob
		at time.Time
	}
	jobs := make(chan job)
	var (
		mu       sync.Mutex
		total    Stats
		firstErr error
		wg       sync.WaitGroup
	)
	for range g.p.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rw := w.repoWriter()
			for j := range jobs {
				if err := rw.blob(j.b.digest, j.b.data, j.at); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
			mu.Lock()
			total.add(rw.stats)
			mu.Unlock()
		}()
	}
	for d, at := range shared {
		if ctx.Err() != nil {
			break
		}
		jobs <- job{g.up.blobs[d], at}
	}
	close(jobs)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return total, firstErr
}
