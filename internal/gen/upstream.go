package gen

import (
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The upstream catalog is the world outside the registry: base images such
// as alpine or python, with versions released over time, each for a few
// platforms. Application images are built FROM them, so their layers are
// the shared base pool, used with Zipf-like popularity (the first families
// are the most popular); mirror repositories hold the upstream images
// themselves, so the same manifest sits in several repositories. Everything
// here is built once, before any repository, from the seed alone.

// wellKnownFamilies name the first families; more get synthetic names.
var wellKnownFamilies = []string{
	"alpine", "debian", "ubuntu", "busybox", "node", "python", "golang",
	"eclipse-temurin", "nginx", "redis", "postgres", "openjdk", "ruby", "php",
	"rust", "amazoncorretto", "httpd", "mysql", "mariadb", "mongo", "rabbitmq",
	"traefik", "haproxy", "memcached", "gradle", "maven", "dotnet-runtime",
	"distroless-static", "ubi9-minimal", "envoy", "grafana", "prometheus",
	"elasticsearch", "consul", "vault", "kafka", "zookeeper", "caddy",
}

// osFamilies are the first families, which have no parent.
const osFamilies = 4

// platforms a multi-platform family may publish, after linux/amd64, with
// the chance that a version has each.
var extraPlatforms = []struct {
	platform v1.Platform
	p        float64
}{
	{v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, 0.85},
	{v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, 0.35},
	{v1.Platform{OS: "linux", Architecture: "ppc64le"}, 0.15},
	{v1.Platform{OS: "linux", Architecture: "s390x"}, 0.10},
}

var amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}

type family struct {
	name     string
	parent   *family
	oci      bool
	multi    bool // published as an index, not a single image
	attest   bool // the index carries BuildKit attestation manifests
	versions []*version
}

type version struct {
	family   *family
	name     string
	released time.Time
	images   []*manifest // one per platform, linux/amd64 first
	layers   [][]layer   // the layers of images[i]
	top      *manifest   // the index, or images[0] for a single-platform family
}

// upstream is the whole catalog, plus the shared blobs by digest for the
// final write.
type upstream struct {
	families []*family
	blobs    map[digest.Digest]*blob // every shared blob
}

// newUpstream builds n families.
func newUpstream(seed int64, n int, start, end time.Time) *upstream {
	u := &upstream{blobs: map[digest.Digest]*blob{emptyConfig.digest: emptyConfig}}
	for i := range n {
		r := newRand(seed, streamFamily, uint64(i))
		f := &family{
			name:  familyName(i),
			oci:   chance(r, 0.6),
			multi: chance(r, 0.75),
		}
		f.attest = f.oci && f.multi && chance(r, 0.4)
		if i >= osFamilies {
			f.parent = u.families[r.IntN(min(i, 2*osFamilies))]
		}
		u.families = append(u.families, f)
		u.buildVersions(seed, i, f, start, end)
	}
	return u
}

func familyName(i int) string {
	if i < len(wellKnownFamilies) {
		return wellKnownFamilies[i]
	}
	return fmt.Sprintf("base-%s-%d", appWords[i%len(appWords)], i)
}

// buildVersions releases 4 to 14 versions of f, from a year before start
// until end, each built on its parent's version of the day.
func (u *upstream) buildVersions(seed int64, i int, f *family, start, end time.Time) {
	r := newRand(seed, streamUpstream, uint64(i))
	count := between(r, 4, 14)
	first := start.AddDate(-1, 0, 0)
	step := end.Sub(first) / time.Duration(count)
	major, minor := between(r, 1, 20), between(r, 0, 9)
	ownLayers := between(r, 1, 3)
	if f.parent == nil {
		ownLayers = 1
	}
	for k := range count {
		released := timeBetween(r, first.Add(time.Duration(k)*step), first.Add(time.Duration(k+1)*step-time.Hour))
		if chance(r, 0.2) {
			major, minor = major+1, 0
		} else {
			minor++
		}
		v := &version{family: f, name: fmt.Sprintf("%d.%d", major, minor), released: released}
		platforms := []v1.Platform{amd64}
		var parent *version
		if f.parent != nil {
			parent = f.parent.versionAt(released)
		}
		if f.multi {
			for _, x := range extraPlatforms {
				if chance(r, x.p) && (parent == nil || parent.image(x.platform) != nil) {
					platforms = append(platforms, x.platform)
				}
			}
		}
		for _, p := range platforms {
			var layers []layer
			if parent != nil {
				layers = append(layers, parent.layers[parent.platformIndex(p)]...)
			}
			for l := range ownLayers {
				key := fmt.Sprintf("%s:%s/%s/%s#%d", f.name, v.name, p.Architecture, p.Variant, l)
				createdBy := fmt.Sprintf("/bin/sh -c #(nop) ADD file:%s in / ", randomHex(r, 64))
				if parent != nil {
					createdBy = fmt.Sprintf("RUN /bin/sh -c set -eux; install %s %s # buildkit", f.name, v.name)
				}
				layers = append(layers, newLayer(r, key, logNormal(r, 900, 0.7, 64, 6000), true, createdBy, released))
			}
			img := buildImage(imageSpec{
				oci:      f.oci,
				platform: p,
				created:  released,
				layers:   layers,
				labels: map[string]string{
					v1.AnnotationTitle:   f.name,
					v1.AnnotationVersion: v.name,
				},
				env:    []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
				cmd:    []string{"/bin/sh"},
				shared: true,
			})
			v.images = append(v.images, img)
			v.layers = append(v.layers, layers)
		}
		v.top = v.images[0]
		if f.multi {
			children := slices.Clone(v.images)
			if f.attest {
				for _, img := range v.images {
					att := buildAttestationManifest(r, img, fmt.Sprintf("%s:%s", f.name, v.name))
					markShared(att)
					children = append(children, att)
				}
			}
			v.top = buildIndex(f.oci, children, true)
		}
		u.add(v.top)
		f.versions = append(f.versions, v)
	}
}

// markShared flags a manifest built by the per-repository builders as part
// of the upstream catalog.
func markShared(m *manifest) {
	m.shared = true
	if m.config != nil {
		m.config.shared = true
	}
	for _, l := range m.layers {
		l.shared = true
	}
}

// add records m and everything it references among the shared blobs.
func (u *upstream) add(m *manifest) {
	u.blobs[m.digest] = m.blob
	if m.config != nil {
		u.blobs[m.config.digest] = m.config
	}
	for _, l := range m.layers {
		u.blobs[l.digest] = l
	}
	for _, c := range m.children {
		u.add(c)
	}
}

// versionAt returns the newest version released at or before t, or the
// first version when none was.
func (f *family) versionAt(t time.Time) *version {
	v := f.versions[0]
	for _, x := range f.versions {
		if x.released.After(t) {
			break
		}
		v = x
	}
	return v
}

// platformIndex returns the index of p among v's images, or 0 (amd64).
func (v *version) platformIndex(p v1.Platform) int {
	for i, img := range v.images {
		if samePlatform(*img.platform, p) {
			return i
		}
	}
	return 0
}

// image returns v's image for p, or nil.
func (v *version) image(p v1.Platform) *manifest {
	for _, img := range v.images {
		if samePlatform(*img.platform, p) {
			return img
		}
	}
	return nil
}

func samePlatform(a, b v1.Platform) bool {
	return a.OS == b.OS && a.Architecture == b.Architecture && a.Variant == b.Variant
}
