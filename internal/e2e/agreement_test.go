package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/regsql/regsql/internal/registrytest"
)

// pushed is what the test did to the registry, for the facts the API cannot
// list (it has no endpoint for revisions or uploads).
type pushed struct {
	deletedManifest digest.Digest     // deleted by digest from team/api
	deletedTag      string            // deleted by name from team/api
	untagged        map[string]string // "repo@digest" -> why it is untagged
	deletedLink     digest.Digest     // layer link deleted from tools/lint
	blobOnlyRepo    string
	uploadRepo      string
	uploadUUID      string
}

// pushVariedSet pushes one of each thing users meet: Docker schema2 and OCI
// images, an OCI index and a Docker manifest list with children, moved
// tags, a manifest deleted by digest, a tag deleted by name, referrers with
// a subject, nested repository names, a repository holding only a blob, and
// an abandoned upload.
func pushVariedSet(t *testing.T, reg *registrytest.Registry) pushed {
	t.Helper()
	p := pushed{untagged: map[string]string{}}
	push := func(repo, tag string, m *registrytest.Manifest) digest.Digest {
		t.Helper()
		d, err := reg.Push(repo, tag, m)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	untagged := func(repo string, d digest.Digest, why string) { p.untagged[repo+"@"+d.String()] = why }
	base := registrytest.Layer(1, 1500)
	created := func(day int) time.Time { return time.Date(2024, 5, day, 8, 0, 0, 0, time.UTC) }

	// Docker schema2; latest moves from old to new, leaving old untagged.
	old := registrytest.Image(registrytest.ImageOptions{Seed: 1, Base: [][]byte{base}, Created: created(1)})
	cur := registrytest.Image(registrytest.ImageOptions{Seed: 2, Base: [][]byte{base}, Created: created(2)})
	untagged("library/alpine", push("library/alpine", "latest", old), "latest moved away")
	push("library/alpine", "latest", cur)
	push("library/alpine", "3.20", cur)

	// OCI images with labels, an index, deletes and referrers.
	api := func(seed int64, version string) *registrytest.Manifest {
		return registrytest.Image(registrytest.ImageOptions{
			Seed: seed, Base: [][]byte{base}, Layers: 2, OCI: true, Created: created(int(seed)),
			Labels: map[string]string{"org.opencontainers.image.version": version},
		})
	}
	v1img, v2img := api(10, "1"), api(11, "2")
	push("team/api", "v1", v1img)
	push("team/api", "v2", v2img)
	arm := registrytest.Image(registrytest.ImageOptions{Seed: 12, OCI: true, Architecture: "arm64", Variant: "v8", Created: created(12)})
	push("team/api", "multi", registrytest.Index(v2img, arm))
	p.deletedManifest = push("team/api", "v0", api(13, "0"))
	if err := reg.DeleteManifest("team/api", p.deletedManifest); err != nil {
		t.Fatal(err)
	}
	p.deletedTag = "rc"
	untagged("team/api", push("team/api", p.deletedTag, api(14, "3-rc")), "tag deleted")
	if err := reg.DeleteTag("team/api", p.deletedTag); err != nil {
		t.Fatal(err)
	}
	push("team/api", "v2.sig", registrytest.Artifact(v2img, "application/vnd.dev.cosign.artifact.sig.v1+json"))
	untagged("team/api", push("team/api", "", registrytest.Artifact(v2img, "application/spdx+json")), "SBOM pushed by digest")

	// Nested names: a Docker manifest list, and an image by digest only.
	push("team/api/worker", "list", registrytest.ManifestList(
		registrytest.Image(registrytest.ImageOptions{Seed: 20, Base: [][]byte{base}}),
		registrytest.Image(registrytest.ImageOptions{Seed: 21, Architecture: "arm64"})))
	untagged("team/api/worker", push("team/api/worker", "", registrytest.Image(registrytest.ImageOptions{Seed: 22})), "pushed by digest")
	push("team/api/worker/deep", "1", registrytest.Image(registrytest.ImageOptions{Seed: 23, OCI: true}))

	// More repositories than a catalog page, one listed only through blobs.
	for _, repo := range []string{"tools/builder", "tools/lint", "zeta"} {
		push(repo, "latest", registrytest.Image(registrytest.ImageOptions{Seed: 30, Base: [][]byte{base}}))
	}
	// A layer link deleted through the API: the blob stays.
	d, err := reg.PushBlob("tools/lint", registrytest.Layer(41, 300))
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.DeleteBlob("tools/lint", d); err != nil {
		t.Fatal(err)
	}
	p.deletedLink = d
	p.blobOnlyRepo = "staging/cache"
	if _, err := reg.PushBlob(p.blobOnlyRepo, registrytest.Layer(40, 700)); err != nil {
		t.Fatal(err)
	}
	p.uploadRepo = "tools/builder"
	uuid, err := reg.StartUpload(p.uploadRepo, []byte("half a layer"))
	if err != nil {
		t.Fatal(err)
	}
	p.uploadUUID = uuid
	return p
}

// TestIndexAgreesWithRegistry checks the index of a registry's storage fact
// for fact against what the registry serves, on the filesystem and on S3.
func TestIndexAgreesWithRegistry(t *testing.T) {
	registrytest.ForEachBackend(t, testIndexAgreesWithRegistry)
}

func testIndexAgreesWithRegistry(t *testing.T, backend registrytest.Backend) {
	// Small pages so that both the catalog and the tags lists paginate.
	reg := registrytest.Start(t, registrytest.WithCatalogMaxEntries(3), registrytest.WithBackend(backend))
	reg.PageSize = 2
	p := pushVariedSet(t, reg)
	ix := indexRegistry(t, reg)

	t.Run("catalog", func(t *testing.T) {
		want, err := reg.Catalog()
		if err != nil {
			t.Fatal(err)
		}
		got := ix.column(t, "SELECT name FROM repos WHERE listed = 1 ORDER BY name")
		if !slices.Equal(got, want) {
			t.Errorf("listed repos = %v, want the catalog %v", got, want)
		}
	})

	catalog, err := reg.Catalog()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("tags", func(t *testing.T) {
		for _, repo := range catalog {
			want, err := reg.Tags(repo)
			if registrytest.StatusCode(err) == http.StatusNotFound {
				want = nil // no tags directory: the registry says NAME_UNKNOWN
			} else if err != nil {
				t.Fatal(err)
			}
			if backend == registrytest.S3 {
				// The registry pages its tag list assuming the
				// driver lists in name order; S3 lists in key
				// order ("v2.sig/" before "v2/"), so a page can
				// repeat a tag of the last one. The tags are
				// the same.
				slices.Sort(want)
				want = slices.Compact(want)
			}
			got := ix.column(t, `SELECT t.name FROM tags t JOIN repos r ON r.id = t.repo_id
			                   WHERE r.name = :repo ORDER BY t.name`, "repo", repo)
			if !slices.Equal(got, want) {
				t.Errorf("tags of %q = %v, want %v", repo, got, want)
			}
		}
	})

	t.Run("tag digests", func(t *testing.T) {
		rows := ix.rows(t, `SELECT r.name, t.name, t.digest FROM tags t JOIN repos r ON r.id = t.repo_id ORDER BY 1, 2`)
		if len(rows) == 0 {
			t.Fatal("no tags indexed")
		}
		for _, row := range rows {
			want, err := reg.HeadManifest(row[0], row[1])
			if err != nil {
				t.Fatal(err)
			}
			if got := row[2]; got != want.String() {
				t.Errorf("tag %s:%s = %s, want %s", row[0], row[1], got, want)
			}
		}
	})

	t.Run("manifests and refs", func(t *testing.T) {
		revs := ix.rows(t, `SELECT r.name, v.digest FROM revisions v JOIN repos r ON r.id = v.repo_id ORDER BY 1, 2`)
		bodies := map[string][]byte{}
		for _, rv := range revs {
			// Every revision the index holds is one the registry serves.
			_, body, err := reg.GetManifest(rv[0], rv[1])
			if err != nil {
				t.Fatalf("revision %s@%s: %v", rv[0], rv[1], err)
			}
			bodies[rv[1]] = body
		}
		if got := ix.value(t, "SELECT count(*) FROM manifests"); got != strconv.Itoa(len(bodies)) {
			t.Errorf("count(manifests) = %s, want %d distinct revisions", got, len(bodies))
		}
		for d, body := range bodies {
			want := parseBody(t, body)
			got := ix.rows(t, `SELECT media_type, kind, coalesce(artifact_type, ''), coalesce(config_digest, ''),
			                       coalesce(subject_digest, ''), size, body
			                  FROM manifests WHERE digest = :d`, "d", d)
			wantRow := []string{want.mediaType, want.kind, want.ArtifactType, want.config(), want.subject(),
				strconv.Itoa(len(body)), string(body)}
			if len(got) != 1 || !slices.Equal(got[0], wantRow) {
				t.Errorf("manifest %s = %q, want %q", d, got, wantRow)
			}
			gotRefs := ix.rows(t, `SELECT kind, position, digest, coalesce(media_type, ''), coalesce(size, ''),
			                           coalesce(platform_os, ''), coalesce(platform_arch, ''), coalesce(platform_variant, '')
			                      FROM refs WHERE manifest_digest = :d ORDER BY kind, position`, "d", d)
			if wantRefs := want.refs(); !slices.EqualFunc(gotRefs, wantRefs, slices.Equal) {
				t.Errorf("refs of %s = %q, want %q", d, gotRefs, wantRefs)
			}
		}
	})

	t.Run("image configs", func(t *testing.T) {
		rows := ix.rows(t, `SELECT m.digest, m.config_digest, coalesce(m.created, ''), coalesce(m.os, ''), coalesce(m.arch, ''),
		                        coalesce(m.variant, ''), coalesce(m.labels, '')
		                   FROM manifests m
		                  WHERE m.kind = 'image' AND coalesce(m.artifact_type, '') = '' ORDER BY 1`)
		if len(rows) == 0 {
			t.Fatal("no images indexed")
		}
		for _, row := range rows {
			repo := ix.value(t, `SELECT min(r.name) FROM revisions v JOIN repos r ON r.id = v.repo_id WHERE v.digest = :d`, "d", row[0])
			data, err := reg.GetBlob(repo, digest.Digest(row[1]))
			if err != nil {
				t.Fatal(err)
			}
			var cfg v1.Image
			if err := json.Unmarshal(data, &cfg); err != nil {
				t.Fatalf("config of %s: %v", row[0], err)
			}
			want := []string{row[0], row[1], strconv.FormatInt(cfg.Created.Unix(), 10), cfg.OS, cfg.Architecture, cfg.Variant}
			if got := row[:6]; !slices.Equal(got, want) {
				t.Errorf("image %s = %q, want %q from its config", row[0], got, want)
			}
			var labels map[string]string
			if row[6] != "" {
				if err := json.Unmarshal([]byte(row[6]), &labels); err != nil {
					t.Errorf("labels of %s = %q: %v", row[0], row[6], err)
				}
			}
			if !maps.Equal(labels, cfg.Config.Labels) {
				t.Errorf("labels of %s = %v, want %v", row[0], labels, cfg.Config.Labels)
			}
		}
	})

	t.Run("layer links", func(t *testing.T) {
		rows := ix.rows(t, `SELECT r.name, l.digest FROM layer_links l JOIN repos r ON r.id = l.repo_id ORDER BY 1, 2`)
		for _, row := range rows {
			// The registry serves a repository's blob through its layer link.
			if _, err := reg.GetBlob(row[0], digest.Digest(row[1])); err != nil {
				t.Errorf("layer link %s@%s: %v", row[0], row[1], err)
			}
		}
		blobOnly := ix.column(t, `SELECT l.digest FROM layer_links l JOIN repos r ON r.id = l.repo_id WHERE r.name = :repo`, "repo", p.blobOnlyRepo)
		if len(blobOnly) != 1 {
			t.Errorf("layer links of %q = %v, want the one pushed blob", p.blobOnlyRepo, blobOnly)
		}
	})

	t.Run("deleted layer link", func(t *testing.T) {
		d := p.deletedLink.String()
		if got := ix.value(t, `SELECT count(*) FROM layer_links WHERE digest = :d`, "d", d); got != "0" {
			t.Errorf("layer links to the deleted link's blob = %s, want 0", got)
		}
		if got := ix.value(t, `SELECT count(*) FROM blobs WHERE digest = :d`, "d", d); got != "1" {
			t.Errorf("blobs holding the deleted link's blob = %s, want 1", got)
		}
	})

	t.Run("blob-only repository", func(t *testing.T) {
		got := ix.rows(t, `SELECT listed, has_layers FROM repos WHERE name = :repo`, "repo", p.blobOnlyRepo)
		if want := []string{"0", "1"}; len(got) != 1 || !slices.Equal(got[0], want) {
			t.Errorf("repo %q (listed, has_layers) = %v, want %v", p.blobOnlyRepo, got, want)
		}
	})

	t.Run("deleted manifest", func(t *testing.T) {
		d := p.deletedManifest.String()
		if got := ix.value(t, `SELECT count(*) FROM revisions WHERE digest = :d`, "d", d); got != "0" {
			t.Errorf("revisions of the manifest deleted by digest = %s, want 0", got)
		}
		if got := ix.value(t, `SELECT count(*) FROM tags WHERE digest = :d`, "d", d); got != "0" {
			t.Errorf("tags on the manifest deleted by digest = %s, want 0", got)
		}
		if _, err := reg.HeadManifest("team/api", d); registrytest.StatusCode(err) != http.StatusNotFound {
			t.Errorf("HeadManifest(deleted) err = %v, want a 404", err)
		}
		// Its body stays on storage until GC: a blob, not a manifest.
		if got := ix.value(t, `SELECT count(*) FROM blobs WHERE digest = :d`, "d", d); got != "1" {
			t.Errorf("blobs holding the deleted manifest = %s, want 1", got)
		}
	})

	t.Run("deleted tag", func(t *testing.T) {
		got := ix.value(t, `SELECT count(*) FROM tags t JOIN repos r ON r.id = t.repo_id
		                  WHERE r.name = 'team/api' AND t.name = :tag`, "tag", p.deletedTag)
		if got != "0" {
			t.Errorf("rows for the deleted tag %q = %s, want 0", p.deletedTag, got)
		}
	})

	t.Run("untagged revisions", func(t *testing.T) {
		var got []string
		for _, row := range ix.rows(t, `SELECT r.name, u.digest FROM untagged_revisions u JOIN repos r ON r.id = u.repo_id`) {
			got = append(got, row[0]+"@"+row[1])
		}
		slices.Sort(got)
		var want []string
		for k := range p.untagged {
			want = append(want, k)
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("untagged_revisions = %v, want %v (%v)", got, want, p.untagged)
		}
	})

	t.Run("problems", func(t *testing.T) {
		// Storage the registry wrote through its API has nothing wrong with
		// it. On the filesystem its deletes remove link files and leave their directories
		// (an empty _manifests/revisions/<alg>/<hex>/ after DELETE by
		// digest, an empty _layers/<alg>/<hex>/ after DELETE blob), and
		// every finished upload leaves an empty _uploads/: the registry
		// ignores all of them, so must the index. The only anomaly is the
		// directory the catalog does not list.
		got := ix.rows(t, `SELECT p.kind, coalesce(r.name, ''), p.path FROM problems p LEFT JOIN repos r ON r.id = p.repo_id ORDER BY 1, 2`)
		if len(got) != 1 || got[0][0] != "layers_only_repo" || got[0][1] != p.blobOnlyRepo {
			t.Errorf("problems (kind, repo, path) = %q, want one layers_only_repo for %q", got, p.blobOnlyRepo)
		}
	})

	t.Run("upload", func(t *testing.T) {
		got := ix.rows(t, `SELECT u.size, u.started_at IS NOT NULL FROM uploads u JOIN repos r ON r.id = u.repo_id
		                 WHERE r.name = :repo AND u.uuid = :uuid`, "repo", p.uploadRepo, "uuid", p.uploadUUID)
		size := len("half a layer")
		if backend == registrytest.S3 {
			// The s3 driver writes an upload's data as a multipart
			// upload, which is no object until the upload completes.
			size = 0
		}
		if want := []string{strconv.Itoa(size), "1"}; len(got) != 1 || !slices.Equal(got[0], want) {
			t.Errorf("upload %s (size, has started_at) = %v, want %v", p.uploadUUID, got, want)
		}
	})
}

// body is a manifest body parsed independently of the walker.
type body struct {
	MediaType    string          `json:"mediaType"`
	ArtifactType string          `json:"artifactType"`
	Config       *v1.Descriptor  `json:"config"`
	Layers       []v1.Descriptor `json:"layers"`
	Manifests    []v1.Descriptor `json:"manifests"`
	Subject      *v1.Descriptor  `json:"subject"`

	mediaType, kind string
}

func parseBody(t *testing.T, data []byte) body {
	t.Helper()
	var b body
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatalf("parse manifest body: %v", err)
	}
	b.mediaType, b.kind = b.MediaType, "image"
	if b.Manifests != nil {
		b.kind = "index"
	}
	return b
}

func (b body) config() string {
	if b.Config == nil {
		return ""
	}
	return b.Config.Digest.String()
}

func (b body) subject() string {
	if b.Subject == nil {
		return ""
	}
	return b.Subject.Digest.String()
}

// refs are the rows refs should hold for b, ordered by kind then position
// as the query orders them.
func (b body) refs() [][]string {
	row := func(kind string, pos int, d v1.Descriptor) []string {
		var os, arch, variant string
		if d.Platform != nil {
			os, arch, variant = d.Platform.OS, d.Platform.Architecture, d.Platform.Variant
		}
		return []string{kind, strconv.Itoa(pos), d.Digest.String(), d.MediaType, fmt.Sprint(d.Size), os, arch, variant}
	}
	var out [][]string
	for i, d := range b.Manifests {
		out = append(out, row("child", i, d))
	}
	if b.Config != nil {
		out = append(out, row("config", 0, *b.Config))
	}
	for i, d := range b.Layers {
		out = append(out, row("layer", i, d))
	}
	if b.Subject != nil {
		out = append(out, row("subject", 0, *b.Subject))
	}
	return out
}
