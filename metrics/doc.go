// Package metrics exports an index as Prometheus metrics: Gather reads a
// database into metric families, WriteText renders them in the text
// exposition format (with the Prometheus client library, never by hand),
// and Server serves them on /metrics, re-indexing on an interval.
//
// The metrics of sky-uk/docker-registry-exporter keep its names and labels,
// so its dashboards and alerts work unchanged:
//
//	repository_tags_total{repository}            tags of a listed repository
//	repository_revisions_total{repository}       its manifest revisions
//	repository_tag_layers_total{repository,tag}  layer descriptors of the tag's manifest
//	repository_tag_size_bytes{repository,tag}    their declared sizes, summed
//
// For a tag on an index, its layers are those of the children it reaches in
// the repository. regsql adds, prefixed regsql_: bytes per repository
// (total, unique, shared), what the registry's garbage collector would
// delete in both its modes, problems by kind, storage totals, the scan's time
// and age, and pull counts and times from ingested logs and notifications.
// docs/monitoring.md lists every one.
//
// Every value is one SQL query over the index (families), so a test can
// compare each with SQL of its own. A scrape opens the database file anew:
// "regsql index" renames a complete file into place, so a scrape sees the
// old index or the new one, never part of one.
package metrics
