package queries

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/regsql/regsql/internal/registrytest"
)

// tagRegistry is a repository of tags pushed at known times, for old-tags
// and tags-matching.
type tagRegistry struct {
	reg  *registrytest.Registry
	base []byte
	img  map[string]*registrytest.Manifest // by name: i1..i7
}

func newTagRegistry(t *testing.T) tagRegistry {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	tr := tagRegistry{reg: reg, base: registrytest.Layer(1000, 2048), img: map[string]*registrytest.Manifest{}}
	// created times, for by_created: i1 is the newest image.
	created := map[int]int{1: 5, 2: 50, 3: 40, 4: 45, 5: 100, 6: 200, 7: 300}
	for i := 1; i <= 7; i++ {
		tr.img[fmt.Sprintf("i%d", i)] = registrytest.Image(registrytest.ImageOptions{
			Seed: int64(100 + i), Base: [][]byte{tr.base}, OCI: true, Created: daysAgo(created[i]),
		})
	}
	tags := []struct {
		repo, tag, img string
		days           int
	}{
		{"app", "b1", "i1", 100}, {"app", "b2", "i2", 90}, {"app", "b3", "i3", 80},
		{"app", "b4", "i4", 60}, {"app", "b5", "i5", 20}, {"app", "b6", "i6", 10},
		{"app", "latest", "i6", 10},
		{"app", "v1.2.3", "i1", 200},    // a semver release: protected by default
		{"app", "old-shared", "i2", 95}, // a second tag on i2
		{"other", "x1", "i7", 300},
	}
	for _, tg := range tags {
		s.Push(tg.repo, tg.tag, tr.img[tg.img])
	}
	// A cosign signature of i3, tagged the cosign way: never proposed.
	sig := registrytest.Artifact(tr.img["i3"], signature)
	sigTag := "sha256-" + tr.img["i3"].Digest().Encoded() + ".sig"
	s.Push("app", sigTag, sig)
	for _, tg := range tags {
		setTagTime(t, reg, tg.repo, tg.tag, daysAgo(tg.days))
	}
	setTagTime(t, reg, "app", sigTag, daysAgo(300))
	return tr
}

func (tr tagRegistry) bytes(img string) int64 { return bytesOf(tr.img[img], tr.base) }

func TestOldTags(t *testing.T) {
	tr := newTagRegistry(t)
	db := buildIndex(t, tr.reg.Root(), "filesystem")
	tests := []struct {
		name   string
		params map[string]string
		want   map[string]int64 // repo:tag -> bytes
	}{
		{
			name:   "keep the newest 2, older than 30 days",
			params: map[string]string{"keep": "2", "older_than": "30d"},
			want: map[string]int64{
				"app:b1":         0, // v1.2.3 still names i1
				"app:b2":         tr.bytes("i2"),
				"app:old-shared": 0, // i2's bytes count on b2, its first row
				"app:b3":         tr.bytes("i3"),
				"app:b4":         tr.bytes("i4"),
			},
		},
		{
			name:   "protect replaces the default",
			params: map[string]string{"keep": "0", "older_than": "70d", "protect": "^(b1|latest)$"},
			want: map[string]int64{
				"app:b2": tr.bytes("i2"), "app:old-shared": 0, "app:b3": tr.bytes("i3"),
				"app:v1.2.3": 0, // b1 still names i1
				"other:x1":   tr.bytes("i7"),
			},
		},
		{
			name:   "by created time",
			params: map[string]string{"keep": "2", "older_than": "30d", "by_created": "1"},
			want: map[string]int64{
				"app:b4": tr.bytes("i4"), "app:b2": tr.bytes("i2"), "app:old-shared": 0,
				"app:b5": tr.bytes("i5"),
				"app:b6": 0, // latest still names i6
			},
		},
		{
			name:   "one repository",
			params: map[string]string{"keep": "0", "older_than": "30d", "repo": "^other$"},
			want:   map[string]int64{"other:x1": tr.bytes("i7")},
		},
		{
			name:   "nothing is old enough",
			params: map[string]string{"keep": "0", "older_than": "1000d"},
			want:   map[string]int64{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]int64{}
			for _, c := range candidates(t, runReport(t, db, "old-tags", tt.params)) {
				got[c.Repo+":"+c.Tag] = c.Bytes
				if c.Digest == "" || c.Reason == "" {
					t.Errorf("old-tags row %+v lacks a digest or a reason", c)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("old-tags = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTagsMatching(t *testing.T) {
	tr := newTagRegistry(t)
	db := buildIndex(t, tr.reg.Root(), "filesystem")
	tests := []struct {
		name   string
		params map[string]string
		want   []string
	}{
		{name: "pattern and age", params: map[string]string{"pattern": "^b[0-9]$", "older_than": "70d"}, want: []string{"app:b1", "app:b2", "app:b3"}},
		{name: "pattern alone", params: map[string]string{"pattern": "^(x|v)"}, want: []string{"app:v1.2.3", "other:x1"}},
		{name: "repository", params: map[string]string{"pattern": ".", "repo": "^other$"}, want: []string{"other:x1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range candidates(t, runReport(t, db, "tags-matching", tt.params)) {
				got = append(got, c.Repo+":"+c.Tag)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("tags-matching = %v, want %v", got, tt.want)
			}
		})
	}
	q, _ := builtins(t).Get("tags-matching")
	if _, err := q.Bind(nil); !errors.Is(err, ErrParam) || !strings.Contains(err.Error(), "pattern") {
		t.Errorf("Bind() without a pattern: error = %v, want one naming pattern", err)
	}
}

func TestUntaggedManifests(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	const repo = "u"
	tagged := image(200)
	s.Push(repo, "t", tagged)
	s.Push(repo, "t-sig", registrytest.Artifact(tagged, signature))
	sbomOf := registrytest.Artifact(tagged, sbom)
	sbomDigest := s.Push(repo, "", sbomOf)
	sigOfSBOM := s.Push(repo, "", registrytest.Artifact(sbomOf, signature))
	u1 := image(201)
	u1Digest := s.Push(repo, "", u1)
	orphanSig := registrytest.Artifact(u1, signature) // its subject is untagged
	orphanSigDigest := s.Push(repo, "", orphanSig)
	u2 := image(202)
	u2Digest := s.Push(repo, "", u2)
	m1 := image(203)
	m1Digest := s.Push(repo, "m", m1)
	s.Push(repo, "m", image(204)) // moves m, leaving m1 untagged
	s.Push(repo, "i", registrytest.Index(image(205), arm(206)))
	j := registrytest.Index(image(207), arm(208))
	jDigest := s.Push(repo, "", j)
	g := image(209)
	gDigest := s.Push(repo, "gone", g)
	s.DeleteTag(repo, "gone")
	setRevisionTime(t, reg, repo, u2Digest, daysAgo(5))
	db := buildIndex(t, reg.Root(), "filesystem")

	empty := v1.DescriptorEmptyJSON.Data
	bytes := map[string]int64{
		u1Digest.String(): bytesOf(u1), u2Digest.String(): bytesOf(u2), m1Digest.String(): bytesOf(m1),
		jDigest.String(): bytesOf(j), gDigest.String(): bytesOf(g),
		orphanSigDigest.String(): bytesOf(orphanSig, empty),
		sbomDigest.String():      bytesOf(sbomOf, empty),
	}
	base := []string{u1Digest.String(), orphanSigDigest.String(), u2Digest.String(), m1Digest.String(), jDigest.String(), gDigest.String()}
	tests := []struct {
		name   string
		params map[string]string
		want   []string // digests
	}{
		{name: "defaults keep referrers of tagged images", want: base},
		{name: "referrers too", params: map[string]string{"keep_referrers": "0"}, want: append([]string{sbomDigest.String(), sigOfSBOM.String()}, base...)},
		{name: "older than 30 days", params: map[string]string{"older_than": "30d"}, want: slices.DeleteFunc(slices.Clone(base), func(d string) bool { return d == u2Digest.String() })},
		{name: "another repository", params: map[string]string{"repo": "^nothing$"}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := runReport(t, db, "untagged-manifests", tt.params)
			var got []string
			for _, c := range candidates(t, rows) {
				got = append(got, c.Digest.String())
				if c.Repo != repo || c.Tag != "" {
					t.Errorf("row %+v: want repo %q and no tag", c, repo)
				}
				if want, ok := bytes[c.Digest.String()]; ok && c.Bytes != want {
					t.Errorf("bytes of %s = %d, want %d", c.Digest, c.Bytes, want)
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("untagged-manifests = %v,\nwant %v", got, want)
			}
		})
	}
}
