package registrygc

import (
	"context"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/internal/registrytest"
)

func TestParse(t *testing.T) {
	const d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	const d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	tests := []struct {
		name      string
		out       string
		blobs     []digest.Digest
		manifests []string
		links     []string
		wantErr   bool
	}{
		{name: "empty", out: ""},
		{
			name: "every kind of line",
			out: "team/api\nteam/api: marking manifest " + d1 + " \n" +
				"manifest eligible for deletion: {team/api " + d2 + " [v1 v2]}\n" +
				"\n1 blobs marked, 1 blobs and 1 manifests eligible for deletion\n" +
				"blob eligible for deletion: " + d2 + "\n" +
				"blob eligible for deletion: " + d2 + "\n" +
				"team/api: layer link eligible for deletion: " + d2 + "\n",
			blobs:     []digest.Digest{d2},
			manifests: []string{"team/api@" + d2},
			links:     []string{"team/api@" + d2},
		},
		{name: "manifest line without a digest", out: "manifest eligible for deletion: {team/api}\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse() error = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if !slices.Equal(got.Blobs, tt.blobs) || !slices.Equal(got.Manifests, tt.manifests) || !slices.Equal(got.LayerLinks, tt.links) {
				t.Errorf("Parse() = %v %v %v, want %v %v %v", got.Blobs, got.Manifests, got.LayerLinks, tt.blobs, tt.manifests, tt.links)
			}
		})
	}
}

func TestDryRun(t *testing.T) {
	reg := registrytest.Start(t)
	img := registrytest.Image(registrytest.ImageOptions{Seed: 1})
	if _, err := reg.Push("app", "v1", img); err != nil {
		t.Fatal(err)
	}
	untagged := registrytest.Image(registrytest.ImageOptions{Seed: 2})
	d, err := reg.Push("app", "", untagged)
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := reg.PushBlob("app", registrytest.Layer(3, 64))
	if err != nil {
		t.Fatal(err)
	}

	got, err := DryRun(context.Background(), reg.Driver(), false)
	if err != nil {
		t.Fatalf("DryRun(false) error = %v", err)
	}
	if want := []digest.Digest{orphan}; !slices.Equal(got.Blobs, want) {
		t.Errorf("DryRun(false).Blobs = %v, want %v", got.Blobs, want)
	}
	if want := []string{"app@" + orphan.String()}; !slices.Equal(got.LayerLinks, want) {
		t.Errorf("DryRun(false).LayerLinks = %v, want %v", got.LayerLinks, want)
	}

	got, err = DryRun(context.Background(), reg.Driver(), true)
	if err != nil {
		t.Fatalf("DryRun(true) error = %v", err)
	}
	if want := []string{"app@" + d.String()}; !slices.Equal(got.Manifests, want) {
		t.Errorf("DryRun(true).Manifests = %v, want %v", got.Manifests, want)
	}
	if !slices.Contains(got.Blobs, d) || !slices.Contains(got.Blobs, orphan) {
		t.Errorf("DryRun(true).Blobs = %v, want %s and %s among them", got.Blobs, d, orphan)
	}
}
