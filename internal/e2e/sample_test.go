package e2e

import (
	"slices"
	"strconv"
	"testing"
)

// The bundled sample registry's headline facts, as its README tells them.
const (
	sampleRoot = "../../testdata/sample-registry"

	apiV090     = "sha256:d32bcb6820766713da576ddd03d5ab514cf24b462da721b2871f577f5d3a59c4" // team/api, left behind by latest
	apiV080     = "sha256:9493e74acc8e974b0dc3e238489a7b91084f50031903e67dae1b3b3ed36585ad" // team/api, deleted by digest
	apiV110     = "sha256:b28ab0da5c1ab88cfe31ae6df2f46ddeca865f808edcb115bcc406f3ee0a4d5f" // team/api, signed
	apiRC       = "sha256:03a6ce04d9f6eb62258fc1495425a082f4af89862ebd61fc8fd0196c76a18b25" // team/api, tag deleted
	apiSBOM     = "sha256:fe19e0afeefd4ca4eb825dc44c02cf3074957b53f3a0a76e9b0ef2d805158d10" // team/api, by digest
	apiSig      = "sha256:ec99b26da8539f3b3734af5b506f9d59bd783eeb5903b81ad70f9b88d4d53455" // team/api, tagged signature
	workerIndex = "sha256:36af9a250d38556d64eafa0d7ad3eaf6bec5d39491d0210065aaa5c1c2f400c1" // team/api/worker:v2
	workerByDig = "sha256:b0fbf5acb2d65eb759c70b62c7bc43ae7a23a5e01f6bdaccc0df1a03d252dcf2" // team/api/worker, by digest
	builderList = "sha256:8c87f99d834bd8e60a08526c5d452b2a67f73280a8c93299f1fa4bae1214d81a" // tools/builder:1.0
	orphanBlob  = "sha256:162f853f36bca8ccf0209d0f287c5f14d95eb7f9788c983f4b14df8002cbad1a" // tools/builder, no manifest
	baseLayer   = "sha256:a21ec5e32711a7e2d94134327bfaabbc703068be89d41659615b23a86e5bf6f1" // shared across repos
)

func TestSampleRegistry(t *testing.T) {
	ix := buildIndex(t, sampleRoot)

	t.Run("repositories", func(t *testing.T) {
		got := ix.rows(t, `SELECT name, listed FROM repos ORDER BY name`)
		want := [][]string{
			{"library/alpine", "1"}, {"staging/cache", "0"}, {"team/api", "1"},
			{"team/api/worker", "1"}, {"tools/builder", "1"},
		}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("repos (name, listed) = %v, want %v", got, want)
		}
	})

	t.Run("tags", func(t *testing.T) {
		got := ix.rows(t, `SELECT r.name, count(t.name) FROM repos r LEFT JOIN tags t ON t.repo_id = r.id
		                 GROUP BY r.id ORDER BY r.name`)
		want := [][]string{
			{"library/alpine", "3"}, {"staging/cache", "0"}, {"team/api", "4"},
			{"team/api/worker", "1"}, {"tools/builder", "1"},
		}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("tags per repo = %v, want %v", got, want)
		}
	})

	t.Run("moved tags", func(t *testing.T) {
		got := ix.rows(t, `SELECT r.name, h.tag, count(*) FROM tag_history h JOIN repos r ON r.id = h.repo_id
		                 GROUP BY r.name, h.tag HAVING count(*) > 1 ORDER BY 1, 2`)
		want := [][]string{{"library/alpine", "latest", "2"}, {"team/api", "latest", "3"}}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("tags with history = %v, want %v", got, want)
		}
	})

	t.Run("revisions", func(t *testing.T) {
		got := ix.rows(t, `SELECT r.name, count(*) FROM revisions v JOIN repos r ON r.id = v.repo_id GROUP BY r.name ORDER BY 1`)
		want := [][]string{{"library/alpine", "2"}, {"team/api", "6"}, {"team/api/worker", "4"}, {"tools/builder", "3"}}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("revisions per repo = %v, want %v", got, want)
		}
		if got := ix.value(t, `SELECT count(*) FROM revisions WHERE digest = :d`, "d", apiV080); got != "0" {
			t.Errorf("revisions of the manifest deleted by digest = %s, want 0", got)
		}
		if got := ix.value(t, `SELECT count(*) FROM blobs WHERE digest = :d`, "d", apiV080); got != "1" {
			t.Errorf("blobs holding the manifest deleted by digest = %s, want 1", got)
		}
	})

	t.Run("untagged revisions", func(t *testing.T) {
		got := ix.rows(t, `SELECT r.name, u.digest FROM untagged_revisions u JOIN repos r ON r.id = u.repo_id ORDER BY 1, 2`)
		want := [][]string{
			{"team/api", apiRC}, {"team/api", apiV090}, {"team/api", apiSBOM}, {"team/api/worker", workerByDig},
		}
		slices.SortFunc(want, slices.Compare)
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("untagged_revisions = %v, want %v", got, want)
		}
	})

	t.Run("indexes", func(t *testing.T) {
		got := ix.rows(t, `SELECT m.digest, m.media_type,
		                       (SELECT group_concat(arch, ',') FROM
		                          (SELECT platform_arch AS arch FROM refs
		                            WHERE manifest_digest = m.digest AND kind = 'child' ORDER BY position))
		                  FROM manifests m WHERE m.kind = 'index' ORDER BY 1`)
		want := [][]string{
			{workerIndex, "application/vnd.oci.image.index.v1+json", "amd64,arm64"},
			{builderList, "application/vnd.docker.distribution.manifest.list.v2+json", "amd64,arm64"},
		}
		slices.SortFunc(want, slices.Compare)
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("indexes (digest, media type, child archs) = %v, want %v", got, want)
		}
	})

	t.Run("referrers", func(t *testing.T) {
		got := ix.rows(t, `SELECT digest, artifact_type FROM manifests WHERE subject_digest = :d ORDER BY 1`, "d", apiV110)
		want := [][]string{
			{apiSig, "application/vnd.dev.cosign.artifact.sig.v1+json"},
			{apiSBOM, "application/spdx+json"},
		}
		slices.SortFunc(want, slices.Compare)
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("referrers of %s = %v, want %v", apiV110, got, want)
		}
	})

	t.Run("shared and orphan blobs", func(t *testing.T) {
		if got := ix.value(t, `SELECT count(DISTINCT repo_id) FROM layer_links WHERE digest = :d`, "d", baseLayer); got != "4" {
			t.Errorf("repositories linking the base layer = %s, want 4", got)
		}
		if got := ix.value(t, `SELECT count(*) FROM refs WHERE digest = :d`, "d", orphanBlob); got != "0" {
			t.Errorf("refs to the orphan blob = %s, want 0", got)
		}
		got := ix.column(t, `SELECT r.name FROM layer_links l JOIN repos r ON r.id = l.repo_id WHERE l.digest = :d`, "d", orphanBlob)
		if want := []string{"tools/builder"}; !slices.Equal(got, want) {
			t.Errorf("layer links to the orphan blob = %v, want %v", got, want)
		}
		if got := ix.value(t, `SELECT count(*) FROM blobs`); got != "46" {
			t.Errorf("count(blobs) = %s, want 46", got)
		}
	})

	t.Run("upload", func(t *testing.T) {
		got := ix.rows(t, `SELECT r.name, u.size, u.started_at IS NOT NULL FROM uploads u JOIN repos r ON r.id = u.repo_id`)
		want := [][]string{{"tools/builder", strconv.Itoa(700), "1"}}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("uploads (repo, size, has started_at) = %v, want %v", got, want)
		}
	})

	t.Run("problems", func(t *testing.T) {
		got := ix.rows(t, `SELECT p.kind, coalesce(r.name, '') FROM problems p LEFT JOIN repos r ON r.id = p.repo_id ORDER BY 1, 2`)
		want := [][]string{{"layers_only_repo", "staging/cache"}}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("problems (kind, repo) = %v, want %v", got, want)
		}
	})
}
