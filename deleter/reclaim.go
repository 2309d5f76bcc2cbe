package deleter

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/regsql/regsql/index"
	"github.com/regsql/regsql/queries"
	"github.com/regsql/regsql/queries/builtin"
)

// reclaimed is what the reclaimable report says a set of actions frees.
type reclaimed struct {
	bytes int64
	blobs int
	repos []RepoBytes
}

// reclaimableFile is the built-in report that computes what a candidate list
// frees. The deleter always runs the built-in one: a user's override of it
// in a queries directory must not change what a plan claims.
const reclaimableFile = "reclaimable.sql"

// reclaim runs the built-in reclaimable report on the candidate list that
// does exactly what actions do: every tag they delete (with the digest it
// names) and every manifest they delete (by digest). The report applies
// the same rules as the plan, so it deletes the same manifests, and then
// replays the registry's default GC before and after.
func reclaim(ctx context.Context, db *index.DB, actions []Action) (reclaimed, error) {
	if len(actions) == 0 || db == nil {
		return reclaimed{}, nil
	}
	src, err := fs.ReadFile(builtin.FS(), reclaimableFile)
	if err != nil {
		return reclaimed{}, fmt.Errorf("read the reclaimable report: %w", err)
	}
	q, err := queries.Parse("builtin/"+reclaimableFile, src)
	if err != nil {
		return reclaimed{}, err
	}
	params, err := q.Bind(map[string]string{queries.CandidatesParam: queries.CandidatesJSON(asCandidates(actions))})
	if err != nil {
		return reclaimed{}, fmt.Errorf("bind the reclaimable report: %w", err)
	}
	rows, err := db.Query(ctx, q.SQL, params)
	if err != nil {
		return reclaimed{}, fmt.Errorf("compute the bytes freed: %w", err)
	}
	defer rows.Close()
	col := map[string]int{}
	for i, c := range rows.Columns() {
		col[c] = i
	}
	for _, c := range []string{"scope", "repo", "tags_deleted", "manifests_deleted", "blobs", "bytes"} {
		if _, ok := col[c]; !ok {
			return reclaimed{}, fmt.Errorf("compute the bytes freed: the reclaimable report has no column %q", c)
		}
	}
	var out reclaimed
	for rows.Next() {
		v := rows.Values()
		switch v[col["scope"]] {
		case "repo":
			repo, _ := v[col["repo"]].(string)
			out.repos = append(out.repos, RepoBytes{
				Repo:      repo,
				Tags:      int(asInt(v[col["tags_deleted"]])),
				Manifests: int(asInt(v[col["manifests_deleted"]])),
				Blobs:     int(asInt(v[col["blobs"]])),
				Bytes:     asInt(v[col["bytes"]]),
			})
		case "total":
			out.blobs = int(asInt(v[col["blobs"]]))
			out.bytes = asInt(v[col["bytes"]])
		}
	}
	if err := rows.Err(); err != nil {
		return reclaimed{}, fmt.Errorf("compute the bytes freed: %w", err)
	}
	return out, nil
}

// asCandidates is the candidate list that asks for exactly what actions do.
func asCandidates(actions []Action) []queries.Candidate {
	var cs []queries.Candidate
	for _, a := range actions {
		switch a.Kind {
		case DeleteTag:
			cs = append(cs, queries.Candidate{Repo: a.Repo, Tag: a.Tag, Digest: a.Digest})
		case DeleteManifest:
			cs = append(cs, queries.Candidate{Repo: a.Repo, Digest: a.Digest})
			for _, t := range a.Tags {
				cs = append(cs, queries.Candidate{Repo: a.Repo, Tag: t, Digest: a.Digest})
			}
		}
	}
	return cs
}

func asInt(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	}
	return 0
}
