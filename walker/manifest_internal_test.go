package walker

import (
	"encoding/json"
	"reflect"
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
