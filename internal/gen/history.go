package gen

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The history of each repository is simulated push by push, from the
// repository's own stream of randomness. The rates below shape the tree;
// with them a repository averages about 8.8 tags and 11.6 manifests, and
// the whole tree about 3.9 blobs and 6.5 link files per manifest: the
// proportions of the long-lived company registry the performance targets
// are written against (TestLargePresetProportions keeps them).
const (
	medianTags = 3.6 // tags per repository: log-normal, so most have a few
	sigmaTags  = 1.2 // and a few have hundreds
	maxTags    = 2000

	multiArchRate = 0.14 // repositories that build multi-platform indexes
	signedRate    = 0.18 // repositories that sign their images
	sbomRate      = 0.10 // repositories that attach SBOMs
	uploadRate    = 0.12 // repositories with abandoned uploads
	orphanRate    = 0.15 // repositories that left orphan blobs behind
)

// event kinds of an application repository's history, with their weights.
const (
	evRelease = iota
	evBranch
	evFeature
	evRetag
	evUntagged
	evDeleteTag
	evDeleteManifest
)

var eventWeights = []float64{
	evRelease:        0.52,
	evBranch:         0.18,
	evFeature:        0.07,
	evRetag:          0.07,
	evUntagged:       0.05,
	evDeleteTag:      0.07,
	evDeleteManifest: 0.04,
}

// app is an application repository being simulated: a team's CI pushing
// builds FROM a base family.
type app struct {
	r        *rand.Rand
	s        *repoState
	index    int
	family   *family
	namer    *tagNamer
	latest   bool
	aliases  bool
	branches []string

	multi     bool
	platforms []v1.Platform
	attest    bool      // BuildKit provenance in OCI indexes
	ociFrom   time.Time // builds from then on are OCI, before Docker schema2; may lie past End

	signed    bool
	sbom      bool
	referrers bool // artifacts listed by a referrers fallback index, not tagged one by one
	signKind  artifactKind

	depLayers int
	appLayers int
	depGen    int
	deps      map[string][]layer // the current generation's dependency layers, by platform
	depsAt    time.Time

	clock  time.Time // of the last push
	builds int
	tops   []*manifest // images and indexes built, in push order
	// referrerLists are the artifacts about each subject, for the fallback
	// index.
	referrerLists map[digest.Digest][]*manifest
}

func (g *generator) buildApp(spec *repoSpec) *repoState {
	r := newRand(g.p.Seed, streamRepo, uint64(spec.index))
	a := &app{
		r:             r,
		s:             newRepoState(spec.name, true),
		index:         spec.index,
		family:        spec.family,
		namer:         newTagNamer(r),
		latest:        chance(r, 0.7),
		depLayers:     between(r, 0, 3),
		appLayers:     between(r, 1, 4),
		deps:          map[string][]layer{},
		referrerLists: map[digest.Digest][]*manifest{},
	}
	a.aliases = a.namer.scheme == schemeSemver && chance(r, 0.4)
	for _, b := range branchWords {
		if chance(r, 0.25) {
			a.branches = append(a.branches, b)
		}
	}
	a.multi = chance(r, multiArchRate)
	a.platforms = []v1.Platform{amd64}
	if a.multi {
		a.platforms = append(a.platforms, extraPlatforms[0].platform)
		if chance(r, 0.3) {
			a.platforms = append(a.platforms, extraPlatforms[1].platform)
		}
		a.attest = chance(r, 0.5)
	}
	a.signed = chance(r, signedRate)
	a.sbom = chance(r, sbomRate)
	a.referrers = chance(r, 0.5)
	a.signKind = signature
	if chance(r, 0.3) {
		a.signKind = notation
	}
	a.ociFrom = timeBetween(r, g.p.Start.AddDate(0, -6, 0), g.p.End.AddDate(1, 0, 0))

	created := timeBetween(r, g.p.Start, g.p.End.AddDate(0, 0, -30))
	a.depsAt = created
	wanted := logNormal(r, medianTags, sigmaTags, 1, maxTags)
	events := max(1, wanted+wanted/4)
	for _, t := range spreadTimes(r, events, created, g.p.End.Add(-time.Hour)) {
		a.event(t)
	}
	leftovers(r, a.s, spec.index, created, g.p.End, uploadRate, orphanRate)
	return a.s
}

// spreadTimes returns n sorted whole seconds in [from, to].
func spreadTimes(r *rand.Rand, n int, from, to time.Time) []time.Time {
	ts := make([]time.Time, n)
	for i := range ts {
		ts[i] = timeBetween(r, from, to)
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	return ts
}

// event plays one event of the history at t (or just after the previous
// one, so that the repository's clock never runs backwards).
func (a *app) event(t time.Time) {
	if !t.After(a.clock) {
		t = a.clock.Add(time.Second)
	}
	a.clock = t
	weights := slices.Clone(eventWeights)
	if len(a.branches) == 0 {
		weights[evBranch] = 0
	}
	if len(a.tops) == 0 {
		weights = []float64{evRelease: 1}
	}
	switch pickWeighted(a.r, weights) {
	case evRelease:
		m := a.build(t)
		clock := a.s.pushManifest(m, t)
		tag, aliases := a.namer.next(a.r, t, a.aliases)
		for _, name := range append([]string{tag}, aliases...) {
			clock = clock.Add(time.Second)
			a.s.tag(name, m, clock)
		}
		if a.latest {
			clock = clock.Add(time.Second)
			a.s.tag("latest", m, clock)
		}
		a.clock = a.attach(m, clock)
	case evBranch:
		m := a.build(t)
		clock := a.s.pushManifest(m, t).Add(time.Second)
		a.s.tag(pick(a.r, a.branches), m, clock)
		a.clock = a.attach(m, clock)
	case evFeature:
		m := a.build(t)
		a.clock = a.s.pushManifest(m, t).Add(time.Second)
		a.s.tag(featureTag(a.r), m, a.clock)
	case evRetag:
		// A promotion: an existing build gets an environment tag.
		m := a.tops[a.r.IntN(len(a.tops))]
		if rev := a.s.revs[m.digest]; rev.deleted {
			return
		}
		a.s.tag(pick(a.r, envWords), m, t)
	case evUntagged:
		m := a.build(t)
		a.clock = a.s.pushManifest(m, t)
	case evDeleteTag:
		names := a.s.tagNames()
		if len(names) > 1 {
			a.s.deleteTag(names[a.r.IntN(len(names))])
		}
	case evDeleteManifest:
		m := a.tops[a.r.IntN(len(a.tops))]
		if !a.s.revs[m.digest].deleted && len(a.tops) > 1 {
			a.s.deleteManifest(m.digest)
		}
	}
}

// build makes a new image (or index) as the repository's CI does at t.
func (a *app) build(t time.Time) *manifest {
	a.builds++
	oci := !t.Before(a.ociFrom)
	base := a.family.versionAt(t.Add(-time.Duration(a.r.IntN(90*24)) * time.Hour))
	if chance(a.r, 0.2) {
		a.depGen++
		a.deps = map[string][]layer{}
		a.depsAt = t.Add(-time.Hour)
	}
	created := t.Add(-time.Duration(between(a.r, 60, 2400)) * time.Second)
	labels := map[string]string{
		v1.AnnotationSource:   "https://git.example.com/" + a.s.name,
		v1.AnnotationRevision: randomHex(a.r, 40),
		v1.AnnotationCreated:  created.Format(time.RFC3339),
	}
	var m *manifest
	if !a.multi {
		m = a.image(oci, base, amd64, created, labels)
	} else {
		var children []*manifest
		for _, p := range a.platforms {
			if base.image(p) != nil {
				children = append(children, a.image(oci, base, p, created, labels))
			}
		}
		if oci && a.attest {
			for _, c := range slices.Clone(children) {
				children = append(children, buildAttestationManifest(a.r, c, fmt.Sprintf("r%d/b%d", a.index, a.builds)))
			}
		}
		m = buildIndex(oci, children, false)
	}
	a.tops = append(a.tops, m)
	return m
}

// image builds one platform's image: the base's layers, the dependency
// layers of the current generation, and new application layers.
func (a *app) image(oci bool, base *version, p v1.Platform, created time.Time, labels map[string]string) *manifest {
	layers := slices.Clone(base.layers[base.platformIndex(p)])
	key := p.Architecture + p.Variant
	deps, ok := a.deps[key]
	if !ok {
		for i := range a.depLayers {
			deps = append(deps, newLayer(a.r, fmt.Sprintf("r%d/deps%d/%s/%d", a.index, a.depGen, key, i),
				logNormal(a.r, 1200, 0.8, 32, 8000), false,
				"RUN /bin/sh -c install-dependencies # buildkit", a.depsAt))
		}
		a.deps[key] = deps
	}
	layers = append(layers, deps...)
	for i := range a.appLayers {
		layers = append(layers, newLayer(a.r, fmt.Sprintf("r%d/b%d/%s/%d", a.index, a.builds, key, i),
			logNormal(a.r, 180, 1.0, 16, 4000), false,
			"COPY . /app # buildkit", created))
	}
	return buildImage(imageSpec{
		oci:      oci,
		platform: p,
		created:  created,
		layers:   layers,
		labels:   labels,
		env:      []string{"PATH=/usr/local/bin:/usr/bin:/bin", "APP_ENV=production"},
		cmd:      []string{"/app/" + pick(a.r, appWords)},
		workdir:  "/app",
	})
}

// attach signs m and adds its SBOM, as the repository's pipeline does
// after a push at t: each artifact tagged by cosign's scheme, or listed in
// the referrers fallback index tagged sha256-<hex> (which moves as
// artifacts accumulate).
func (a *app) attach(m *manifest, t time.Time) time.Time {
	var kinds []artifactKind
	if a.signed && chance(a.r, 0.9) {
		kinds = append(kinds, a.signKind)
		if chance(a.r, 0.25) {
			kinds = append(kinds, attestation)
		}
	}
	if a.sbom && chance(a.r, 0.8) {
		kinds = append(kinds, sbom)
	}
	for _, kind := range kinds {
		t = t.Add(time.Duration(between(a.r, 5, 120)) * time.Second)
		art := buildArtifact(a.r, kind, m, t, fmt.Sprintf("r%d/b%d/%s", a.index, a.builds, kind.tagSuffix))
		t = a.s.pushManifest(art, t)
		if !a.referrers {
			a.s.tag(cosignTag(m.digest.String(), kind.tagSuffix), art, t)
			continue
		}
		list := append(a.referrerLists[m.digest], art)
		a.referrerLists[m.digest] = list
		idx := buildIndex(true, list, false)
		t = a.s.pushManifest(idx, t).Add(time.Second)
		a.s.tag(referrersTag(m.digest.String()), idx, t)
	}
	return t
}

// buildMirror simulates a repository that mirrors an upstream family: each
// version pushed a while after its release, tagged with its name, and
// latest following the newest. Mirrors of one family in several
// repositories hold the very same manifests.
func (g *generator) buildMirror(spec *repoSpec) *repoState {
	r := newRand(g.p.Seed, streamRepo, uint64(spec.index))
	s := newRepoState(spec.name, true)
	created := timeBetween(r, g.p.Start, g.p.End.AddDate(0, 0, -30))
	type push struct {
		v  *version
		at time.Time
	}
	var pushes []push
	for _, v := range spec.family.versions {
		if v.released.Before(created) && !chance(r, 0.4) || chance(r, 0.1) {
			continue
		}
		at := v.released
		if at.Before(created) {
			at = created
		}
		at = at.Add(time.Duration(between(r, 600, 10*24*3600)) * time.Second)
		if at.After(g.p.End) {
			continue
		}
		pushes = append(pushes, push{v, at})
	}
	if len(pushes) == 0 {
		v := spec.family.versions[len(spec.family.versions)-1]
		pushes = append(pushes, push{v, maxTime(v.released, created).Add(time.Hour)})
	}
	slices.SortFunc(pushes, func(a, b push) int { return a.at.Compare(b.at) })
	var newest *version
	var clock time.Time
	for _, p := range pushes {
		clock = s.pushManifest(p.v.top, maxTime(p.at, clock.Add(time.Second))).Add(time.Second)
		s.tag(p.v.name, p.v.top, clock)
		if newest == nil || p.v.released.After(newest.released) {
			newest = p.v
			clock = clock.Add(time.Second)
			s.tag("latest", p.v.top, clock)
		}
	}
	leftovers(r, s, spec.index, created, g.p.End, uploadRate/2, 0)
	return s
}

// buildAbandoned simulates a first push that died: a directory with
// uploaded layers (_layers) or unfinished uploads, but no _manifests, so
// the registry does not list it.
func (g *generator) buildAbandoned(spec *repoSpec) *repoState {
	r := newRand(g.p.Seed, streamRepo, uint64(spec.index))
	s := newRepoState(spec.name, false)
	at := timeBetween(r, g.p.Start, g.p.End.AddDate(0, 0, -1))
	hasLayers := chance(r, 0.6)
	if hasLayers {
		for i := range between(r, 1, 3) {
			l := newLayer(r, fmt.Sprintf("r%d/abandoned/%d", spec.index, i), logNormal(r, 300, 1.0, 16, 4000), false, "", at)
			s.uploadBlob(l.blob, at.Add(time.Duration(i)*time.Second))
		}
	}
	uploads := 0
	if !hasLayers || chance(r, 0.5) {
		uploads = between(r, 1, 2)
	}
	for range uploads {
		s.uploads = append(s.uploads, newUpload(r, timeBetween(r, at, g.p.End)))
	}
	return s
}

// leftovers adds what interrupted pushes and past clean-ups leave: upload
// directories and blobs that no link names.
func leftovers(r *rand.Rand, s *repoState, index int, from, to time.Time, uploadP, orphanP float64) {
	if chance(r, uploadP) {
		for range between(r, 1, 3) {
			started := timeBetween(r, from, to)
			if chance(r, 0.8) {
				// Most are stale: older than the registry's purge age.
				started = timeBetween(r, from, maxTime(from, to.AddDate(0, 0, -8)))
			}
			s.uploads = append(s.uploads, newUpload(r, started))
		}
	}
	if chance(r, orphanP) {
		for i := range between(r, 1, 6) {
			at := timeBetween(r, from, to)
			l := newLayer(r, fmt.Sprintf("r%d/orphan/%d", index, i), logNormal(r, 300, 1.2, 16, 8000), false, "", at)
			s.storeBlob(l.blob, at)
		}
	}
}

// newUpload makes an upload started at t: a uuid v7 as the registry makes
// them, and a partial layer (possibly empty) with its saved hash state.
func newUpload(r *rand.Rand, t time.Time) upload {
	var data []byte
	if chance(r, 0.7) {
		data = make([]byte, between(r, 1, 300))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
	}
	return upload{uuid: uuidV7(r, t), started: t, data: data}
}

// uuidV7 formats a version 7 uuid for t.
func uuidV7(r *rand.Rand, t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	for i := 6; i < 16; i++ {
		b[i] = byte(r.Uint32())
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// hashState is the saved state of sha256 after data, as the registry
// stores it under hashstates/sha256/<offset>.
func hashState(data []byte) []byte {
	h := sha256.New()
	h.Write(data)
	state, err := h.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary()
	if err != nil {
		panic(fmt.Sprintf("gen: save sha256 state: %v", err))
	}
	return state
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
