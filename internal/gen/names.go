package gen

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Words repository names are made of. Every name component the generator
// builds matches the registry's grammar,
// [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*, because every word does and
// words are joined with "-" or "/".
var (
	orgWords = []string{
		"platform", "payments", "search", "data", "ml", "infra", "web", "mobile",
		"security", "billing", "identity", "growth", "ads", "checkout", "logistics",
		"catalog", "media", "analytics", "devtools", "sre", "core", "risk",
		"support", "marketing", "partners", "research", "edge", "storage",
		"network", "observability", "team-alpha", "team-bravo", "team-charlie",
		"team-delta", "team-echo", "ci", "qa", "internal", "labs", "sandbox",
	}
	appWords = []string{
		"api", "gateway", "auth", "frontend", "backend", "ingest", "scheduler",
		"notifier", "router", "indexer", "crawler", "exporter", "collector",
		"renderer", "uploader", "resizer", "ledger", "invoice", "cart", "pricing",
		"inventory", "profile", "session", "feed", "ranker", "recommender",
		"tracker", "metrics", "logs", "alerts", "mailer", "sms", "push", "chat",
		"wallet", "fraud", "kyc", "geo", "maps", "orders", "shipping", "returns",
		"reviews", "ratings", "coupons", "loyalty", "reports", "etl", "warehouse",
		"lake", "stream", "queue", "cache", "proxy", "dns", "vpn", "sso", "vault",
		"secrets", "config", "flags", "experiments", "portal", "console", "admin",
		"docs", "status", "billing", "quota", "audit", "backup", "restore",
		"builder", "runner", "agent", "operator", "controller", "webhook",
	}
	componentWords = []string{
		"worker", "api", "web", "cron", "migrations", "cli", "sidecar", "jobs",
		"admin", "consumer", "producer", "init", "debug", "tests", "e2e",
	}
	mirrorPrefixes = []string{
		"mirror", "dockerhub/library", "proxy/docker.io/library", "cache", "upstream",
	}
	branchWords = []string{"main", "develop", "staging", "master", "next", "release"}
	envWords    = []string{"prod", "staging", "stable", "canary", "qa", "edge"}
	featureWord = []string{"feature", "fix", "pr", "hotfix", "bump", "chore"}
)

// nameSet hands out unique repository names.
type nameSet map[string]bool

// unique returns name, or name with a numeric suffix on its last component
// when name is taken, and reserves it.
func (s nameSet) unique(name string) string {
	candidate := name
	for n := 2; s[candidate]; n++ {
		candidate = fmt.Sprintf("%s-%d", name, n)
	}
	s[candidate] = true
	return candidate
}

// tagScheme is how a repository names its release tags.
type tagScheme int

const (
	schemeSemver tagScheme = iota // v1.4.2 or 1.4.2, with moving 1.4 and 1
	schemeSHA                     // sha-3f2a9c1 or a bare git sha
	schemeBuild                   // build-1234 or 1234
	schemeDate                    // 2025.03.14 or 2025.03.14-2
)

// tagNamer makes a repository's release tags in its scheme.
type tagNamer struct {
	scheme   tagScheme
	prefix   string // "v" or "" for semver, "sha-" or "" for sha, "build-" or "" for build
	shaLen   int
	semver   [3]int
	build    int
	lastDate string
	sameDay  int
}

func newTagNamer(r *rand.Rand) *tagNamer {
	n := &tagNamer{scheme: tagScheme(pickWeighted(r, []float64{0.45, 0.25, 0.18, 0.12}))}
	switch n.scheme {
	case schemeSemver:
		n.prefix = pick(r, []string{"v", ""})
		n.semver = [3]int{between(r, 0, 3), between(r, 0, 12), 0}
	case schemeSHA:
		n.prefix = pick(r, []string{"sha-", "", "git-"})
		n.shaLen = pick(r, []int{7, 8, 12, 40})
	case schemeBuild:
		n.prefix = pick(r, []string{"build-", "", "b"})
		n.build = between(r, 1, 5000)
	}
	return n
}

// next returns the next release tag and the moving aliases it updates
// (1.4 and 1 for 1.4.2 when the repository keeps them).
func (n *tagNamer) next(r *rand.Rand, at time.Time, aliases bool) (string, []string) {
	switch n.scheme {
	case schemeSemver:
		switch x := r.Float64(); {
		case x < 0.04:
			n.semver = [3]int{n.semver[0] + 1, 0, 0}
		case x < 0.25:
			n.semver = [3]int{n.semver[0], n.semver[1] + 1, 0}
		default:
			n.semver[2]++
		}
		tag := fmt.Sprintf("%s%d.%d.%d", n.prefix, n.semver[0], n.semver[1], n.semver[2])
		if !aliases {
			return tag, nil
		}
		return tag, []string{
			fmt.Sprintf("%s%d.%d", n.prefix, n.semver[0], n.semver[1]),
			fmt.Sprintf("%s%d", n.prefix, n.semver[0]),
		}
	case schemeSHA:
		return n.prefix + randomHex(r, n.shaLen), nil
	case schemeBuild:
		n.build += between(r, 1, 9)
		return fmt.Sprintf("%s%d", n.prefix, n.build), nil
	default:
		day := at.Format("2006.01.02")
		if day == n.lastDate {
			n.sameDay++
			return fmt.Sprintf("%s-%d", day, n.sameDay), nil
		}
		n.lastDate, n.sameDay = day, 1
		return day, nil
	}
}

// featureTag is a short-lived branch tag: feature-search-12, pr-481.
func featureTag(r *rand.Rand) string {
	kind := pick(r, featureWord)
	if kind == "pr" {
		return fmt.Sprintf("pr-%d", between(r, 1, 9999))
	}
	return fmt.Sprintf("%s-%s-%d", kind, pick(r, appWords), between(r, 1, 999))
}

// cosignTag is the tag cosign and friends give an artifact about subject.
func cosignTag(subject string, suffix string) string {
	return strings.Replace(subject, ":", "-", 1) + "." + suffix
}

// referrersTag is the OCI referrers tag schema's fallback tag for subject:
// an index listing the artifacts about it, for registries without the
// referrers API.
func referrersTag(subject string) string {
	return strings.Replace(subject, ":", "-", 1)
}

// pickWeighted returns an index of weights with probability proportional
// to its weight.
func pickWeighted(r *rand.Rand, weights []float64) int {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	x := r.Float64() * total
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}
