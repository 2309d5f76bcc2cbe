package gen

import (
	"context"
	"math"
	"testing"
)

// TestLargePresetProportions simulates the large preset without writing it
// and checks that it has the shape the benchmarks are specified against:
// about 8,700 repositories, 75k tags, 100k manifests, 424k blobs and 640k
// link files.
func TestLargePresetProportions(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 100k manifests")
	}
	t.Parallel()
	p, _ := Preset("large")
	st, err := generate(context.Background(), "", p, true)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  int
		want int
	}{
		{name: "repositories", got: st.Repositories, want: 8700},
		{name: "tags", got: st.Tags, want: 75_000},
		{name: "manifests", got: st.Manifests, want: 100_000},
		{name: "blobs", got: st.Blobs, want: 424_000},
		{name: "link files", got: st.LinkFiles, want: 640_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if math.Abs(float64(tt.got-tt.want)) > 0.15*float64(tt.want) {
				t.Errorf("large preset has %d %s, want %d ± 15%%", tt.got, tt.name, tt.want)
			}
		})
	}
}
