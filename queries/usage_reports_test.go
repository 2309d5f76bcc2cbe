package queries

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/internal/registrytest"
	"github.com/regsql/regsql/usage"
)

// pullAt is a manifest pull of repo:ref (a tag or a digest) n days before
// testNow.
func pullAt(repo, ref string, days int, key string) usage.Event {
	return usage.Event{Kind: usage.ManifestPull, Key: key, Repo: repo, Reference: ref, Time: daysAgo(days),
		Method: "GET", Status: 200, RemoteAddr: fmt.Sprintf("10.0.0.%d:5000", days%7)}
}

// ingestEvents stores events into the index at path as one source
// covering from coveredFrom days before testNow.
func ingestEvents(t *testing.T, path string, coveredFrom int, events ...usage.Event) {
	t.Helper()
	ctx := context.Background()
	w, err := index.NewUsageWriter(ctx, path, index.UsageSource{Name: "registry.log", Kind: "file"}, index.UsageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := index.UsageProgress{CoveredFrom: daysAgo(coveredFrom), CoveredTo: daysAgo(0)}
	if err := w.Write(ctx, events, p); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(ctx, p); err != nil {
		t.Fatal(err)
	}
}

// usageRegistry has tags pushed 200 days ago, one pushed 10 days ago, and
// a tag in another repository, each on an image of its own.
type usageRegistry struct {
	reg  *registrytest.Registry
	img  map[string]*registrytest.Manifest // by tag
	path string
}

func newUsageRegistry(t *testing.T) usageRegistry {
	reg := registrytest.Start(t)
	s := reg.Steps(t)
	ur := usageRegistry{reg: reg, img: map[string]*registrytest.Manifest{}}
	tags := []struct {
		repo, tag string
		days      int
	}{
		{"app", "pulled-long-ago", 200}, {"app", "pulled-lately", 200}, {"app", "never-seen", 200},
		{"app", "by-digest", 200}, {"app", "new", 10}, {"app", "latest", 200}, {"other", "x", 200},
	}
	for i, tg := range tags {
		img := registrytest.Image(registrytest.ImageOptions{Seed: int64(300 + i)})
		ur.img[tg.tag] = img
		s.Push(tg.repo, tg.tag, img)
		setTagTime(t, reg, tg.repo, tg.tag, daysAgo(tg.days))
	}
	return ur
}

// index builds the index and returns its path.
func (ur usageRegistry) index(t *testing.T) (*index.DB, string) {
	db := buildIndex(t, ur.reg.Root(), "filesystem")
	return db, db.Path()
}

func TestNotPulledSince(t *testing.T) {
	ur := newUsageRegistry(t)
	events := []usage.Event{
		pullAt("app", "pulled-long-ago", 100, "k1"),
		pullAt("app", "pulled-lately", 5, "k2"),
		pullAt("app", ur.img["by-digest"].Digest().String(), 3, "k3"), // the tag's image, by digest
		pullAt("app", "new", 1, "k4"),
	}
	tests := []struct {
		name        string
		coveredFrom int // days: where the ingested data starts
		events      []usage.Event
		params      map[string]string
		want        map[string]string // repo:tag -> reason
	}{
		{
			name: "data covers the window", coveredFrom: 120, events: events,
			params: map[string]string{"older_than": "90d"},
			want: map[string]string{
				"app:pulled-long-ago": "last pulled " + day(100) + ", pushed " + day(200),
				"app:never-seen":      "no pull seen since " + day(120) + ", pushed " + day(200),
				"other:x":             "no pull seen since " + day(120) + ", pushed " + day(200),
			},
		},
		{
			name: "data starts within the window: unknown is recent", coveredFrom: 30, events: events[1:],
			params: map[string]string{"older_than": "90d"},
			want:   map[string]string{},
		},
		{
			name: "unknown_is_old", coveredFrom: 30, events: events[1:],
			params: map[string]string{"older_than": "90d", "unknown_is_old": "1", "repo": "^app$"},
			want: map[string]string{
				"app:pulled-long-ago": "no pull seen; pull data starts " + day(30) + ", pushed " + day(200),
				"app:never-seen":      "no pull seen; pull data starts " + day(30) + ", pushed " + day(200),
			},
		},
		{
			name: "a shorter window", coveredFrom: 120, events: events,
			params: map[string]string{"older_than": "4d", "protect": "^$"},
			want: map[string]string{
				"app:pulled-long-ago": "last pulled " + day(100) + ", pushed " + day(200),
				"app:pulled-lately":   "last pulled " + day(5) + ", pushed " + day(200),
				"app:never-seen":      "no pull seen since " + day(120) + ", pushed " + day(200),
				"app:latest":          "no pull seen since " + day(120) + ", pushed " + day(200),
				// new, by-digest: pulled 1 and 3 days ago
				"other:x": "no pull seen since " + day(120) + ", pushed " + day(200),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, path := ur.index(t)
			ingestEvents(t, path, tt.coveredFrom, tt.events...)
			got := map[string]string{}
			for _, c := range candidates(t, runReport(t, db, "not-pulled-since", tt.params)) {
				got[c.Repo+":"+c.Tag] = c.Reason
				if c.Digest != ur.img[c.Tag].Digest() {
					t.Errorf("row %s:%s digest = %s, want %s", c.Repo, c.Tag, c.Digest, ur.img[c.Tag].Digest())
				}
				if c.Bytes != bytesOf(ur.img[c.Tag]) {
					t.Errorf("row %s:%s bytes = %d, want %d", c.Repo, c.Tag, c.Bytes, bytesOf(ur.img[c.Tag]))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("not-pulled-since = %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestNotPulledSinceNothingIngested: with no pull data at all, nothing is
// proposed: every tag is unknown.
func TestNotPulledSinceNothingIngested(t *testing.T) {
	ur := newUsageRegistry(t)
	db, _ := ur.index(t)
	if rows := runReport(t, db, "not-pulled-since", map[string]string{"older_than": "1d"}); len(rows) != 0 {
		t.Errorf("not-pulled-since without pull data = %v, want nothing", rowKeys(rows))
	}
}

func TestPullFrequency(t *testing.T) {
	ur := newUsageRegistry(t)
	db, path := ur.index(t)
	var events []usage.Event
	for i := range 6 {
		events = append(events, pullAt("app", "pulled-lately", i, fmt.Sprint("a", i)))
	}
	events = append(events,
		pullAt("app", "pulled-lately", 40, "old"), // outside the 30-day window
		pullAt("app", ur.img["by-digest"].Digest().String(), 2, "d1"),
		pullAt("other", "x", 1, "x1"), pullAt("other", "x", 1, "x2"),
	)
	ingestEvents(t, path, 10, events...) // the data covers 10 days of the window
	rows := runReport(t, db, "pull-frequency", map[string]string{"window": "30d"})
	got := render(rows, "repo", "reference", "by_tag", "pulls", "per_day", "covered_days", "digest", "clients")
	d := ur.img["by-digest"].Digest().String()
	want := []string{ // sorted, as render sorts
		fmt.Sprintf("repo=app reference=pulled-lately by_tag=1 pulls=6 per_day=0.6 covered_days=10 digest=%s clients=6", ur.img["pulled-lately"].Digest()),
		fmt.Sprintf("repo=app reference=%s by_tag=0 pulls=1 per_day=0.1 covered_days=10 digest=%s clients=1", d, d),
		fmt.Sprintf("repo=other reference=x by_tag=1 pulls=2 per_day=0.2 covered_days=10 digest=%s clients=1", ur.img["x"].Digest()),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pull-frequency =\n%s\nwant\n%s", got, want)
	}
	if first := str(rows[0]["reference"]); first != "pulled-lately" {
		t.Errorf("pull-frequency first row = %s, want the busiest, pulled-lately", first)
	}
}

// day is the date n days before testNow, as the reports print it.
func day(n int) string { return daysAgo(n).UTC().Format(time.DateOnly) }
