package walker_test

import (
	_ "crypto/sha512" // makes sha384 and sha512 available to digest.Parse
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/regsql/regsql/walker"
)

var (
	hex64  = strings.Repeat("a1", 32)
	hex96  = strings.Repeat("b2", 48)
	hex128 = strings.Repeat("c3", 64)
)

func TestParseLink(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{name: "sha256", in: "sha256:" + hex64},
		{name: "sha384", in: "sha384:" + hex96},
		{name: "sha512", in: "sha512:" + hex128},
		{name: "trailing newline", in: "sha256:" + hex64 + "\n", wantErr: true},
		{name: "leading space", in: " sha256:" + hex64, wantErr: true},
		{name: "uppercase hex", in: "sha256:" + strings.ToUpper(hex64), wantErr: true},
		{name: "short hex", in: "sha256:" + hex64[1:], wantErr: true},
		{name: "sha512 length under sha256", in: "sha256:" + hex128, wantErr: true},
		{name: "no algorithm", in: hex64, wantErr: true},
		{name: "empty algorithm", in: ":" + hex64, wantErr: true},
		{name: "unsupported algorithm", in: "md5:d41d8cd98f00b204e9800998ecf8427e", wantErr: true},
		{name: "not hex", in: "sha256:" + strings.Repeat("zz", 32), wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "binary", in: "\x00\xff", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := walker.ParseLink([]byte(tt.in))
			if tt.wantErr {
				if err == nil || !errors.Is(err, walker.ErrBadLink) {
					t.Errorf("ParseLink(%q) = %v, %v, want an ErrBadLink", tt.in, got, err)
				}
				return
			}
			if err != nil || string(got) != tt.in {
				t.Errorf("ParseLink(%q) = %v, %v, want %s", tt.in, got, err, tt.in)
			}
		})
	}
}

func FuzzParseLink(f *testing.F) {
	for _, s := range []string{"sha256:" + hex64, "sha384:" + hex96, "sha512:" + hex128, "sha256:" + hex64 + "\n", "sha256:", ":", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := walker.ParseLink(b)
		_, regErr := digest.Parse(string(b))
		if (err == nil) != (regErr == nil) {
			t.Fatalf("ParseLink(%q) error = %v but the registry's digest.Parse error = %v", b, err, regErr)
		}
		if err == nil && d.String() != string(b) {
			t.Fatalf("ParseLink(%q) = %q, want the input back", b, d)
		}
	})
}

func BenchmarkParseLink(b *testing.B) {
	link := []byte("sha256:" + hex64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := walker.ParseLink(link); err != nil {
			b.Fatal(err)
		}
	}
}

func desc(mediaType, d string) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": d, "size": 10}
}

func manifestJSON(m map[string]any) string { return string(mustJSON(m)) }

const (
	dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	dockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	dockerConfig   = "application/vnd.docker.container.image.v1+json"
	dockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

func TestParseManifest(t *testing.T) {
	cfg := "sha256:" + strings.Repeat("01", 32)
	layer := "sha256:" + strings.Repeat("02", 32)
	child := "sha256:" + strings.Repeat("03", 32)
	image := func(mediaType string) map[string]any {
		m := map[string]any{"schemaVersion": 2, "config": desc(v1.MediaTypeImageConfig, cfg), "layers": []any{desc(v1.MediaTypeImageLayerGzip, layer)}}
		if mediaType != "" {
			m["mediaType"] = mediaType
		}
		return m
	}
	children := []any{map[string]any{"mediaType": v1.MediaTypeImageManifest, "digest": child, "size": 10,
		"platform": map[string]any{"os": "linux", "architecture": "arm", "variant": "v7"}}}

	tests := []struct {
		name          string
		body          string
		wantKind      walker.ManifestKind
		wantMediaType string
		wantRefs      []walker.ReferenceKind
		wantProblems  []walker.ProblemKind
		wantBody      bool
		check         func(t *testing.T, m walker.Manifest)
	}{
		{
			name: "docker schema2",
			body: manifestJSON(map[string]any{"schemaVersion": 2, "mediaType": dockerManifest,
				"config": desc(dockerConfig, cfg), "layers": []any{desc(dockerLayer, layer)}}),
			wantKind: walker.KindImage, wantMediaType: dockerManifest,
			wantRefs: []walker.ReferenceKind{walker.RefConfig, walker.RefLayer}, wantBody: true,
			check: func(t *testing.T, m walker.Manifest) {
				if m.Config != digest.Digest(cfg) || m.ArtifactType != "" {
					t.Errorf("Config, ArtifactType = %s, %q, want %s and none", m.Config, m.ArtifactType, cfg)
				}
			},
		},
		{
			name: "docker manifest list",
			body: manifestJSON(map[string]any{"schemaVersion": 2, "mediaType": dockerList, "manifests": []any{
				map[string]any{"mediaType": dockerManifest, "digest": child, "size": 10, "platform": map[string]any{"os": "linux", "architecture": "amd64"}}}}),
			wantKind: walker.KindIndex, wantMediaType: dockerList,
			wantRefs: []walker.ReferenceKind{walker.RefChild}, wantBody: true,
			check: func(t *testing.T, m walker.Manifest) {
				if p := m.References[0].Platform; p == nil || *p != (walker.Platform{OS: "linux", Architecture: "amd64"}) {
					t.Errorf("child platform = %+v, want linux/amd64", p)
				}
			},
		},
		{
			name:     "oci image",
			body:     manifestJSON(image(v1.MediaTypeImageManifest)),
			wantKind: walker.KindImage, wantMediaType: v1.MediaTypeImageManifest,
			wantRefs: []walker.ReferenceKind{walker.RefConfig, walker.RefLayer}, wantBody: true,
		},
		{
			name:     "oci index",
			body:     manifestJSON(map[string]any{"schemaVersion": 2, "mediaType": v1.MediaTypeImageIndex, "manifests": children}),
			wantKind: walker.KindIndex, wantMediaType: v1.MediaTypeImageIndex,
			wantRefs: []walker.ReferenceKind{walker.RefChild}, wantBody: true,
			check: func(t *testing.T, m walker.Manifest) {
				if p := m.References[0].Platform; p == nil || *p != (walker.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}) {
					t.Errorf("child platform = %+v, want linux/arm/v7", p)
				}
			},
		},
		{
			name:     "no mediaType with manifests is an index",
			body:     manifestJSON(map[string]any{"schemaVersion": 2, "manifests": children}),
			wantKind: walker.KindIndex, wantMediaType: v1.MediaTypeImageIndex,
			wantRefs: []walker.ReferenceKind{walker.RefChild}, wantBody: true,
		},
		{
			name:     "no mediaType with an empty manifests array is an index",
			body:     `{"schemaVersion":2,"manifests":[]}`,
			wantKind: walker.KindIndex, wantMediaType: v1.MediaTypeImageIndex, wantBody: true,
		},
		{
			name:     "no mediaType without manifests is an image",
			body:     manifestJSON(image("")),
			wantKind: walker.KindImage, wantMediaType: v1.MediaTypeImageManifest,
			wantRefs: []walker.ReferenceKind{walker.RefConfig, walker.RefLayer}, wantBody: true,
		},
		{
			name:     "no mediaType with null manifests is an image",
			body:     `{"schemaVersion":2,"manifests":null,"config":{"mediaType":"` + v1.MediaTypeImageConfig + `","digest":"` + cfg + `","size":1}}`,
			wantKind: walker.KindImage, wantMediaType: v1.MediaTypeImageManifest,
			wantRefs: []walker.ReferenceKind{walker.RefConfig}, wantBody: true,
		},
		{
			name:         "no mediaType and manifests not an array",
			body:         `{"schemaVersion":2,"manifests":"nope"}`,
			wantKind:     walker.KindInvalid,
			wantProblems: []walker.ProblemKind{walker.ProblemManifestInvalid}, wantBody: true,
		},
		{
			name: "artifact with subject",
			body: manifestJSON(map[string]any{"schemaVersion": 2, "mediaType": v1.MediaTypeImageManifest,
				"artifactType": "application/vnd.example.sbom", "config": desc(v1.MediaTypeEmptyJSON, cfg),
				"layers": []any{desc("application/json", layer)}, "subject": desc(v1.MediaTypeImageManifest, child)}),
			wantKind: walker.KindImage, wantMediaType: v1.MediaTypeImageManifest,
			wantRefs: []walker.ReferenceKind{walker.RefConfig, walker.RefLayer, walker.RefSubject}, wantBody: true,
			check: func(t *testing.T, m walker.Manifest) {
				if m.Subject != digest.Digest(child) || m.ArtifactType != "application/vnd.example.sbom" {
					t.Errorf("Subject, ArtifactType = %s, %q, want %s and the body's", m.Subject, m.ArtifactType, child)
				}
			},
		},
		{
			name: "artifact typed by its config",
			body: manifestJSON(map[string]any{"schemaVersion": 2, "mediaType": v1.MediaTypeImageManifest,
				"config": desc("application/vnd.cncf.helm.config.v1+json", cfg), "layers": []any{desc("application/vnd.cncf.helm.chart.content.v1.tar+gzip", layer)}}),
			wantKind: walker.KindImage, wantMediaType: v1.MediaTypeImageManifest,
			wantRefs: []walker.ReferenceKind{walker.RefConfig, walker.RefLayer}, wantBody: true,
			check: func(t *testing.T, m walker.Manifest) {
				if m.ArtifactType != "application/vnd.cncf.helm.config.v1+json" {
					t.Errorf("ArtifactType = %q, want the config's mediaType", m.ArtifactType)
				}
			},
		},
		{
			name: "non-sha256 layer",
			body: manifestJSON(map[string]any{"schemaVersion": 2, "mediaType": v1.MediaTypeImageManifest,
				"config": desc(v1.MediaTypeImageConfig, cfg), "layers": []any{desc(v1.MediaTypeImageLayerGzip, "sha512:"+hex128)}}),
			wantKind: walker.KindImage, wantMediaType: v1.MediaTypeImageManifest,
			wantRefs: []walker.ReferenceKind{walker.RefConfig, walker.RefLayer}, wantBody: true,
			wantProblems: []walker.ProblemKind{walker.ProblemNonSHA256},
		},
		{
			name:     "schema1",
			body:     `{"schemaVersion":1,"name":"app","fsLayers":[{"blobSum":"` + layer + `"}]}`,
			wantKind: walker.KindSchema1, wantMediaType: "application/vnd.docker.distribution.manifest.v1+json",
			wantRefs: []walker.ReferenceKind{walker.RefLayer}, wantBody: true,
			wantProblems: []walker.ProblemKind{walker.ProblemManifestSchema1},
		},
		{
			name:     "unknown mediaType",
			body:     `{"schemaVersion":2,"mediaType":"application/vnd.example+json"}`,
			wantKind: walker.KindUnknown, wantMediaType: "application/vnd.example+json", wantBody: true,
			wantProblems: []walker.ProblemKind{walker.ProblemManifestUnknown},
		},
		{
			name:     "unknown schemaVersion",
			body:     `{"schemaVersion":3,"mediaType":"` + v1.MediaTypeImageManifest + `"}`,
			wantKind: walker.KindUnknown, wantMediaType: v1.MediaTypeImageManifest, wantBody: true,
			wantProblems: []walker.ProblemKind{walker.ProblemManifestUnknown},
		},
		{
			name:         "truncated",
			body:         manifestJSON(image(v1.MediaTypeImageManifest))[:40],
			wantKind:     walker.KindInvalid,
			wantProblems: []walker.ProblemKind{walker.ProblemManifestInvalid},
		},
		{
			name:     "JSON the registry rejects",
			body:     `{"schemaVersion":2,"mediaType":"` + v1.MediaTypeImageManifest + `","layers":"nope"}`,
			wantKind: walker.KindInvalid, wantMediaType: v1.MediaTypeImageManifest,
			wantProblems: []walker.ProblemKind{walker.ProblemManifestInvalid}, wantBody: true,
		},
		{
			name:         "not an object",
			body:         `[1,2]`,
			wantKind:     walker.KindInvalid,
			wantProblems: []walker.ProblemKind{walker.ProblemManifestInvalid}, wantBody: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := digest.FromString(tt.body)
			m, problems := walker.ParseManifest(d, []byte(tt.body))
			if m.Kind != tt.wantKind || m.MediaType != tt.wantMediaType {
				t.Errorf("ParseManifest() = %s %q, want %s %q", m.Kind, m.MediaType, tt.wantKind, tt.wantMediaType)
			}
			var refs []walker.ReferenceKind
			for _, r := range m.References {
				refs = append(refs, r.Kind)
			}
			if !slices.Equal(refs, tt.wantRefs) {
				t.Errorf("ParseManifest() references = %v, want %v", refs, tt.wantRefs)
			}
			var kinds []walker.ProblemKind
			for _, p := range problems {
				kinds = append(kinds, p.Kind)
				if p.Digest != d || p.Path != blobPath(d) || p.Message == "" {
					t.Errorf("problem %+v, want the manifest's digest, blob path and a message", p)
				}
			}
			if !slices.Equal(kinds, tt.wantProblems) {
				t.Errorf("ParseManifest() problems = %v, want %v", kinds, tt.wantProblems)
			}
			if (m.Body != nil) != tt.wantBody || m.Size != int64(len(tt.body)) || m.Digest != d {
				t.Errorf("ParseManifest() body %v, size %d, digest %s; want body %v, size %d, digest %s", m.Body != nil, m.Size, m.Digest, tt.wantBody, len(tt.body), d)
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

func FuzzParseManifest(f *testing.F) {
	for _, s := range []string{
		`{"schemaVersion":2,"mediaType":"` + v1.MediaTypeImageIndex + `","manifests":[{"digest":"sha256:` + hex64 + `","platform":{"os":"linux"}}]}`,
		`{"schemaVersion":2,"config":{"digest":"sha256:` + hex64 + `"},"layers":[{"digest":"x"}],"subject":{"digest":"y"}}`,
		`{"schemaVersion":2,"mediaType":"` + dockerList + `","manifests":[{"platform":{}}]}`,
		`{"schemaVersion":1,"fsLayers":[{"blobSum":"sha256:` + hex64 + `"}],"signatures":[]}`,
		`{"schemaVersion":2,"mediaType":"x","blobs":[{"digest":""}]}`,
		`{"schemaVersion":2,"manifests":"x"}`, `null`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	kinds := []walker.ManifestKind{walker.KindImage, walker.KindIndex, walker.KindSchema1, walker.KindUnknown, walker.KindInvalid}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, _ := walker.ParseManifest(digest.FromBytes(body), body)
		if !slices.Contains(kinds, m.Kind) {
			t.Fatalf("ParseManifest(%q) kind = %q", body, m.Kind)
		}
		if m.Body != nil && !json.Valid(m.Body) {
			t.Fatalf("ParseManifest(%q) kept a body that is not JSON", body)
		}
		if m.Size != int64(len(body)) {
			t.Fatalf("ParseManifest(%q) size = %d, want %d", body, m.Size, len(body))
		}
	})
}

func BenchmarkParseManifest(b *testing.B) {
	tree := build("healthy")
	var bodies [][]byte
	for _, m := range []string{"library/alpine", "org/app"} {
		for p, content := range tree {
			if strings.HasPrefix(p, repoPath(m)+"/_manifests/revisions/") {
				bodies = append(bodies, tree[blobPath(digest.Digest(content))])
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, body := range bodies {
			walker.ParseManifest("sha256:"+digest.Digest(hex64), body)
		}
	}
}

func TestParseImageConfig(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    walker.ImageConfig
		wantErr bool
	}{
		{
			name: "oci",
			in:   `{"created":"2024-05-01T12:00:00.5+02:00","os":"linux","architecture":"arm64","variant":"v8","config":{"Labels":{"a":"b"}}}`,
			want: walker.ImageConfig{Created: time.Date(2024, 5, 1, 10, 0, 0, 5e8, time.UTC), OS: "linux", Architecture: "arm64", Variant: "v8", Labels: map[string]string{"a": "b"}},
		},
		{name: "no created", in: `{"os":"windows","architecture":"amd64"}`, want: walker.ImageConfig{OS: "windows", Architecture: "amd64"}},
		{name: "created not a time", in: `{"created":"yesterday","os":"linux"}`, want: walker.ImageConfig{OS: "linux"}},
		{name: "created not a string", in: `{"created":12,"os":"linux"}`, want: walker.ImageConfig{OS: "linux"}},
		{name: "null labels", in: `{"config":{"Labels":null}}`, want: walker.ImageConfig{}},
		{name: "label not a string", in: `{"config":{"Labels":{"a":1}}}`, wantErr: true},
		{name: "not JSON", in: `not json`, wantErr: true},
		{name: "truncated", in: `{"os":"li`, wantErr: true},
		{name: "null", in: `null`, wantErr: true},
		{name: "empty", in: ``, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := walker.ParseImageConfig([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseImageConfig(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if !got.Created.Equal(tt.want.Created) || got.OS != tt.want.OS || got.Architecture != tt.want.Architecture ||
				got.Variant != tt.want.Variant || !mapsEqual(got.Labels, tt.want.Labels) {
				t.Errorf("ParseImageConfig(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func FuzzParseImageConfig(f *testing.F) {
	for _, s := range []string{`{"created":"2024-05-01T12:00:00Z","os":"linux","config":{"Labels":{"a":"b"}}}`, `{"created":1}`, `null`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := walker.ParseImageConfig(b)
		if err == nil && !c.Created.IsZero() && c.Created.Location() != time.UTC {
			t.Fatalf("ParseImageConfig(%q).Created = %v, want UTC", b, c.Created)
		}
	})
}
