package walker

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// FuzzManifestHead checks what parse relies on to read a manifest's head
// and extras at once: a body that reads as manifestHead reads as the
// registry's first look (manifestVersioned) and as manifestExtras, each on
// its own, to the same values.
func FuzzManifestHead(f *testing.F) {
	for _, s := range []string{
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"a","subject":{"digest":"sha256:00","size":3}}`,
		`{"schemaVersion":2,"subject":5}`, `{"SchemaVersion":"2","MEDIATYPE":"x"}`, `{"schemaVersion":1,"schemaVersion":2}`,
		`{"subject":null,"artifactType":"","x":[1,{"y":2}]}`, `null`, `[]`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var head manifestHead
		if json.Unmarshal(body, &head) != nil {
			return
		}
		var versioned manifestVersioned
		if err := json.Unmarshal(body, &versioned); err != nil {
			t.Fatalf("%q reads as a head but not as the registry's first look: %v", body, err)
		}
		if versioned != head.manifestVersioned {
			t.Fatalf("%q: first look %+v, head %+v", body, versioned, head)
		}
		var ex manifestExtras
		if err := json.Unmarshal(body, &ex); err != nil {
			t.Fatalf("%q reads as a head but not as extras: %v", body, err)
		}
		if ex.ArtifactType != head.ArtifactType || !reflect.DeepEqual(ex.Subject, head.Subject) {
			t.Fatalf("%q: extras %+v, head %+v", body, ex, head)
		}
	})
}

// FuzzManifestOnePass checks parse's one-pass read of image manifests
// against the read it saves (parseHead: the head, then distribution's own
// types): the same manifest, references and problems for any body.
func FuzzManifestOnePass(f *testing.F) {
	const (
		hex    = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		oci    = `"application/vnd.oci.image.manifest.v1+json"`
		docker = `"application/vnd.docker.distribution.manifest.v2+json"`
		desc   = `{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:` + hex + `","size":12}`
	)
	for _, s := range []string{
		`{"schemaVersion":2,"mediaType":` + docker + `,"config":` + desc + `,"layers":[` + desc + `,` + desc + `]}`,
		`{"schemaVersion":2,"mediaType":` + oci + `,"config":` + desc + `,"layers":[` + desc + `],"subject":` + desc + `,"annotations":{"a":"b"}}`,
		`{"schemaVersion":2,"mediaType":` + oci + `,"artifactType":"x/y","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:` + hex + `","size":2},"layers":[]}`,
		`{"schemaVersion":2,"config":` + desc + `,"layers":[` + desc + `]}`,
		`{"schemaVersion":2,"mediaType":` + docker + `,"config":` + desc + `,"layers":[],"subject":5}`,
		`{"schemaVersion":2,"mediaType":` + oci + `,"config":` + desc + `,"layers":[],"annotations":{"a":1}}`,
		`{"schemaVersion":2,"mediaType":` + oci + `,"config":` + desc + `,"layers":"x"}`,
		`{"SCHEMAVERSION":2,"MediaType":` + docker + `,"Config":` + desc + `,"LAYERS":[` + desc + `],"mediaType":` + oci + `}`,
		`{"schemaVersion":2,"mediaType":` + docker + `,"config":null,"layers":null}`,
		`{"schemaVersion":2,"mediaType":` + docker + `,"layers":[{"digest":""},{"digest":"sha512:ab","platform":{"os":"linux"}}]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + desc + `]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"digest":"sha256:` + hex + `","platform":{"features":"x"}}]}`,
		`{"schemaVersion":1,"fsLayers":[{"blobSum":"sha256:` + hex + `"}]}`,
		`{"schemaVersion":3,"mediaType":` + oci + `}`, `{"schemaVersion":"2"}`, `null`, `[]`, `{`,
	} {
		f.Add([]byte(s))
	}
	const dgst = "sha256:" + hex
	f.Fuzz(func(t *testing.T, body []byte) {
		one := manifestParse{m: Manifest{Digest: dgst, Size: int64(len(body))}}
		one.parse(body)
		two := manifestParse{m: Manifest{Digest: dgst, Size: int64(len(body))}}
		two.parseHead(body)
		if !reflect.DeepEqual(one.m, two.m) {
			t.Fatalf("%q: one pass read\n%+v\nthe registry's types\n%+v", body, one.m, two.m)
		}
		if !reflect.DeepEqual(one.problems, two.problems) {
			t.Fatalf("%q: one pass found %v, the registry's types %v", body, one.problems, two.problems)
		}
	})
}

// FuzzImageConfigAsEncodingJSON checks that ParseImageConfig, which reads
// with go-json-experiment/json, reads any body as encoding/json reads it:
// the same fields, and an error for the same bodies.
func FuzzImageConfigAsEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"created":"2024-05-01T12:00:00.5+02:00","os":"linux","architecture":"arm64","variant":"v8","config":{"Labels":{"a":"b"},"Env":["X=1"]},"history":[{"created_by":"x"}],"rootfs":{"type":"layers","diff_ids":["sha256:00"]}}`,
		`{"OS":"linux","ARCHITECTURE":"amd64","Config":{"labels":{"a":"b"}},"os":"windows"}`,
		`{"os":"a","os":"b","config":{"Labels":{"a":"1"}},"config":{"Labels":{"b":"2"}}}`,
		`{"config":{"Labels":{"a":null,"b":"\u00e9\ud800"}},"created":null}`,
		"{\"os\":\"\xff\xfe\",\"variant\":\"v\\u0000\"}",
		`{"created":12,"os":5}`, `{"config":[]}`, `{"config":{"Labels":{"a":1}}}`, `{"\u006fs":"linux"}`,
		`{"os":"li`, `null`, ` {} `, `{}x`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseImageConfig(b)
		var c imageConfig
		werr := json.Unmarshal(b, &c)
		if !isJSONObject(b) {
			werr = errors.New("not a JSON object")
		}
		if (err != nil) != (werr != nil) {
			t.Fatalf("%q: error %v, encoding/json's %v", b, err, werr)
		}
		if err != nil {
			return
		}
		if want := c.image(); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: read\n%+v\nencoding/json reads\n%+v", b, got, want)
		}
	})
}

// BenchmarkParseImageConfig reads an image config like the generator's
// (labels, environment, history, diff IDs), beside encoding/json reading
// the same fields, the reference it replaced.
func BenchmarkParseImageConfig(b *testing.B) {
	const hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	var history, diffs []string
	for i := range 8 {
		history = append(history, fmt.Sprintf(`{"created":"2025-07-07T00:09:%02dZ","created_by":"/bin/sh -c #(nop) RUN step %d"}`, i, i))
		diffs = append(diffs, `"sha256:`+hex+`"`)
	}
	body := []byte(`{"created":"2025-07-07T00:09:33Z","architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/bin:/usr/bin:/bin","APP_ENV=production"],` +
		`"Cmd":["/app/run"],"WorkingDir":"/app","Labels":{"org.opencontainers.image.created":"2025-07-07T00:09:33Z","org.opencontainers.image.source":"https://git.example.com/app"}},` +
		`"rootfs":{"type":"layers","diff_ids":[` + strings.Join(diffs, ",") + `]},"history":[` + strings.Join(history, ",") + `]}`)
	b.Run("regsql", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseImageConfig(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c imageConfig
			if err := json.Unmarshal(body, &c); err != nil {
				b.Fatal(err)
			}
			c.image()
		}
	})
}
