package metrics

import "github.com/prometheus/client_golang/prometheus"

// family is one metric: its SQL returns one row per series, the label
// values in order, then the value. Rows whose value is NULL give no series.
type family struct {
	name   string
	help   string
	typ    prometheus.ValueType
	labels []string
	sql    string
}

// tagReach is every manifest a tag reaches in its repository: its own, and
// an index's children that are revisions of the same repository.
const tagReach = `WITH RECURSIVE reach(repo_id, tag, target) AS (
    SELECT t.repo_id, t.name, v.target
      FROM tags t JOIN revisions v ON v.repo_id = t.repo_id AND v.digest = t.digest
    UNION
    SELECT x.repo_id, x.tag, v.target
      FROM reach x
      JOIN refs c ON c.manifest_digest = x.target AND c.kind = 'child'
      JOIN revisions v ON v.repo_id = x.repo_id AND v.digest = c.digest
)
`

// families are the metrics Gather reads with SQL, in the order it writes
// them. The first four are docker-registry-exporter's, by name and labels.
var families = []family{
	{
		name: "repository_tags_total", help: "Number of tags for each repo", typ: prometheus.GaugeValue,
		labels: []string{"repository"},
		sql:    `SELECT r.name, (SELECT count(*) FROM tags t WHERE t.repo_id = r.id) FROM repos r WHERE r.listed`,
	},
	{
		name: "repository_revisions_total", help: "Number of revisions for each repo", typ: prometheus.GaugeValue,
		labels: []string{"repository"},
		sql:    `SELECT r.name, (SELECT count(*) FROM revisions v WHERE v.repo_id = r.id) FROM repos r WHERE r.listed`,
	},
	{
		name: "repository_tag_layers_total", help: "Number of layers in each tag", typ: prometheus.GaugeValue,
		labels: []string{"repository", "tag"},
		sql: tagReach + `SELECT r.name, x.tag, count(l.digest)
  FROM reach x JOIN repos r ON r.id = x.repo_id
  LEFT JOIN refs l ON l.manifest_digest = x.target AND l.kind = 'layer'
 WHERE r.listed GROUP BY r.name, x.tag`,
	},
	{
		name: "repository_tag_size_bytes", help: "Size of each tag", typ: prometheus.GaugeValue,
		labels: []string{"repository", "tag"},
		sql: tagReach + `SELECT r.name, x.tag, coalesce(sum(l.size), 0)
  FROM reach x JOIN repos r ON r.id = x.repo_id
  LEFT JOIN refs l ON l.manifest_digest = x.target AND l.kind = 'layer'
 WHERE r.listed GROUP BY r.name, x.tag`,
	},
	{
		name: "regsql_repository_bytes", help: "Bytes of every blob a repository uses, each counted once", typ: prometheus.GaugeValue,
		labels: []string{"repository"},
		sql:    `SELECT name, total_bytes FROM repo_usage`,
	},
	{
		name: "regsql_repository_unique_bytes", help: "Bytes of the blobs only this repository uses: what deleting it and running GC frees", typ: prometheus.GaugeValue,
		labels: []string{"repository"},
		sql:    `SELECT name, unique_bytes FROM repo_usage`,
	},
	{
		name: "regsql_repository_shared_bytes", help: "Bytes of the blobs this repository shares with others", typ: prometheus.GaugeValue,
		labels: []string{"repository"},
		sql:    `SELECT name, shared_bytes FROM repo_usage`,
	},
	{
		name: "regsql_problems", help: "Anomalies the last index recorded, by kind", typ: prometheus.GaugeValue,
		labels: []string{"kind"},
		sql:    `SELECT kind, count(*) FROM problems GROUP BY kind`,
	},
	{name: "regsql_repositories", help: "Repositories the registry lists", typ: prometheus.GaugeValue,
		sql: `SELECT count(*) FROM repos WHERE listed`},
	{name: "regsql_manifests", help: "Manifest bodies in the index", typ: prometheus.GaugeValue,
		sql: `SELECT count(*) FROM manifests`},
	{name: "regsql_blobs", help: "Blobs on storage", typ: prometheus.GaugeValue,
		sql: `SELECT count(*) FROM blobs`},
	{name: "regsql_blob_bytes", help: "Bytes of the blobs on storage", typ: prometheus.GaugeValue,
		sql: `SELECT coalesce(sum(size), 0) FROM blobs`},
	{name: "regsql_uploads", help: "Uploads in progress or abandoned", typ: prometheus.GaugeValue,
		sql: `SELECT count(*) FROM uploads`},
	{name: "regsql_upload_bytes", help: "Bytes held by uploads in progress or abandoned", typ: prometheus.GaugeValue,
		sql: `SELECT coalesce(sum(size), 0) FROM uploads`},
	{name: "regsql_scan_timestamp_seconds", help: "When the index's scan of the storage finished", typ: prometheus.GaugeValue,
		sql: `SELECT finished_at FROM scans ORDER BY id DESC LIMIT 1`},
	{name: "regsql_scan_duration_seconds", help: "How long the index's scan took", typ: prometheus.GaugeValue,
		sql: `SELECT finished_at - started_at FROM scans ORDER BY id DESC LIMIT 1`},
	{name: "regsql_scan_age_seconds", help: "Seconds since the index's scan finished, at the time of the scrape", typ: prometheus.GaugeValue,
		sql: `SELECT :now - finished_at FROM scans ORDER BY id DESC LIMIT 1`},
	{
		name: "regsql_pulls_total", help: "Manifest pulls ingested from the registry's logs and notifications, by repository", typ: prometheus.CounterValue,
		labels: []string{"repository"},
		sql:    `SELECT repo, count(*) FROM pull_events GROUP BY repo`,
	},
	{
		name: "regsql_last_pull_timestamp_seconds", help: "Latest ingested manifest pull, by repository", typ: prometheus.GaugeValue,
		labels: []string{"repository"},
		sql:    `SELECT repo, max(pulled_at) FROM pull_events GROUP BY repo`,
	},
	{
		name: "regsql_tag_last_pull_timestamp_seconds", help: "Latest ingested pull of a tag, by name or of what it reaches by digest; no series when none was seen", typ: prometheus.GaugeValue,
		labels: []string{"repository", "tag"},
		sql:    `SELECT r.name, p.tag, p.last_pulled_at FROM tag_pulls p JOIN repos r ON r.id = p.repo_id WHERE p.last_pulled_at IS NOT NULL`,
	},
	{name: "regsql_usage_coverage_start_timestamp_seconds", help: "Where the ingested pull data starts: a tag never seen pulled may have been pulled before it", typ: prometheus.GaugeValue,
		sql: `SELECT covered_from FROM usage_coverage`},
	{name: "regsql_usage_coverage_end_timestamp_seconds", help: "Where the ingested pull data ends", typ: prometheus.GaugeValue,
		sql: `SELECT covered_to FROM usage_coverage`},
}
