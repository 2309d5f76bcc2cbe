package gc

import (
	"path"
	"slices"
	"testing"
	"time"

	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/walker"
)

// TestGrace simulates pushes in flight: blobs uploaded (or mounted) whose
// manifest is not pushed yet, and an index whose children are pushed but
// not the index itself.
func TestGrace(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	s.Push("app", "v1", image(1))
	s.Push("other", "v1", image(2))
	ageAll(t, reg, 48*time.Hour)

	// A push in flight into app: config and layer uploaded, no manifest.
	inflight := image(3)
	s.PushBlob("app", inflight.Config)
	s.PushBlob("app", inflight.Layers[0])
	// A push in flight into app that mounts a layer other stored long
	// ago: the blob is old, its link in app new.
	mounted := image(2).Layers[0]
	mountedDigest := s.PushBlob("app", mounted)
	age(t, reg, path.Join(walker.BlobDir(mountedDigest), "data"), 48*time.Hour)
	s.DeleteManifest("other", image(2).Digest()) // nothing references the mounted blob now
	// A multi-arch push in flight: the children are pushed (untagged,
	// by digest), the index is not yet.
	child := image(4)
	s.Push("app", "", child)

	inflightBlobs := strs(blobsOf(inflight)[:0])
	for _, d := range blobsOf(inflight) {
		if d != inflight.Digest() {
			inflightBlobs = append(inflightBlobs, d.String())
		}
	}

	tests := []struct {
		name  string
		opts  Options
		kept  map[Reason][]string // blobs retained, by reason
		swept []string            // blobs swept among the ones pushed in flight
	}{
		{
			name: "default grace",
			opts: Options{Grace: 24 * time.Hour},
			kept: map[Reason][]string{ReasonGrace: inflightBlobs, ReasonRecentLink: {mountedDigest.String()}},
		},
		{
			name: "default grace, delete untagged",
			opts: Options{Grace: 24 * time.Hour, DeleteUntagged: true},
			kept: map[Reason][]string{
				ReasonGrace:          inflightBlobs,
				ReasonRecentLink:     {mountedDigest.String()},
				ReasonRecentRevision: strs(blobsOf(child)),
			},
		},
		{
			name:  "no grace",
			opts:  Options{DeleteUntagged: true},
			swept: union(inflightBlobs, []string{mountedDigest.String()}, strs(blobsOf(child))),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := plan(t, reg, tt.opts)
			for why, want := range tt.kept {
				slices.Sort(want)
				if got := retained(p, KindBlob, why); !slices.Equal(got, want) {
					t.Errorf("retained for %s = %v, want %v", why, got, want)
				}
			}
			blobs := items(p, KindBlob)
			for _, d := range union(inflightBlobs, []string{mountedDigest.String()}, strs(blobsOf(child))) {
				if got, want := slices.Contains(blobs, d), slices.Contains(tt.swept, d); got != want {
					t.Errorf("blob %s swept = %v, want %v", d, got, want)
				}
			}
			if tt.opts.DeleteUntagged && tt.opts.Grace > 0 && slices.Contains(items(p, KindRevision), "app@"+child.Digest().String()) {
				t.Errorf("the child pushed just now is swept: %v", items(p, KindRevision))
			}
		})
	}

	// With the default grace nothing of the pushes in flight goes, and
	// the index can be pushed and pulled afterwards.
	p := plan(t, reg, Options{Grace: 24 * time.Hour, DeleteUntagged: true})
	execute(t, p, openStorage(t, reg))
	s.Push("app", "v2", inflight)
	s.Push("app", "multi", registrytest.Index(child))
	for _, tag := range []string{"v1", "v2", "multi"} {
		if _, err := reg.Pull("app", tag); err != nil {
			t.Errorf("Pull(app:%s) after gc: %v", tag, err)
		}
	}
}

func TestUploads(t *testing.T) {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	s.Push("app", "v1", image(1))
	old := s.StartUpload("app", registrytest.Layer(2, 500)[:300])
	fresh := s.StartUpload("app", nil)
	noStart := s.StartUpload("app", nil)
	started := time.Now().Add(-10 * 24 * time.Hour).UTC().Format(time.RFC3339)
	if err := writeFile(reg, walker.UploadDir("app", old)+"/startedat", started); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(reg, walker.UploadDir("app", noStart)+"/startedat", "yesterday"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{name: "older than a week", opts: Options{UploadsOlderThan: 7 * 24 * time.Hour}, want: []string{"app/" + old}},
		{name: "older than a month", opts: Options{UploadsOlderThan: 30 * 24 * time.Hour}},
		{name: "zero leaves uploads alone", opts: Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := plan(t, reg, tt.opts)
			if got := items(p, KindUpload); !slices.Equal(got, tt.want) {
				t.Errorf("uploads swept = %v, want %v", got, tt.want)
			}
			if p.LatestUpload.Before(time.Now().Add(-time.Hour)) {
				t.Errorf("LatestUpload = %v, want the fresh upload's start", p.LatestUpload)
			}
		})
	}

	p := plan(t, reg, Options{UploadsOlderThan: 7 * 24 * time.Hour})
	if got := p.Totals()[3]; got.Count != 1 || got.Bytes != 300 {
		t.Errorf("upload total = %+v, want 1 upload of 300 bytes", got)
	}
	execute(t, p, openStorage(t, reg))
	var left []string
	for _, r := range walk(t, reg).repos["app"].uploads {
		left = append(left, r.UUID)
	}
	slices.Sort(left)
	want := []string{fresh, noStart}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("uploads left = %v, want %v", left, want)
	}
}
