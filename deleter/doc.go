// Package deleter deletes a candidate list from a registry safely: it plans,
// then executes the plan once, journaling every action.
//
// # Plan
//
// NewPlan resolves each candidate (a tag, a manifest digest, or a tag and the
// digest it must still name) against a fresh index and changes nothing. For
// each it decides, in the registry API's terms, delete tag (DELETE
// /v2/<repo>/manifests/<tag>: the manifest stays), delete manifest (DELETE
// /v2/<repo>/manifests/<digest>: the revision and every tag naming it go), or
// refuse, with a Reason:
//
//   - not-found: the repository, tag or manifest is not in the index.
//   - stale: the row carries a digest and the tag names another one now.
//   - protected: the tag, or a tag on the manifest, matches a protect pattern
//     (by name or as repo:tag). Protection always wins.
//   - shared-digest: a manifest asked for by digest carries tags that are not
//     candidates; deleting it would delete them. A tag whose manifest another
//     tag keeps is deleted as a tag only.
//   - kept-index-child: the manifest is listed by an index of its repository
//     that stays; deleting it would break pulls of the index. Its candidate
//     tags are deleted as tags only.
//
// A manifest goes when a row asks for it by digest or when every tag on it
// is a candidate. With it go the children of a deleted index (image
// manifests, attestation manifests) that no tag that stays names and no
// index that stays lists: left behind they would be untagged revisions
// forever. Referrers of a deleted manifest (signatures, SBOMs: manifests
// whose subject it is) go too with WithReferrers; otherwise the plan warns
// that they become orphans. Everything is resolved within one repository,
// as the registry resolves it. A plan that deletes every tag of a
// repository, or nothing at all, is flagged, and Execute refuses it unless
// told otherwise.
//
// The bytes a plan frees are what the built-in reclaimable report computes
// for exactly the plan's deletions: the blobs the registry's garbage
// collector (default mode) marks before the plan and not after, each blob
// once. Nothing is freed until that GC runs.
//
// # Execute
//
// Actions run in steps, the safest first: tag deletions (the manifest
// stays), then manifests, a referrer before its subject, an index before its
// children, so that a run stopped anywhere never leaves an index that lists
// a deleted child. A child whose index deletion failed is not attempted. A
// dry run returns inside Execute before anything, the journal included, is
// touched; a plan executes once.
//
// Two executors do exactly what the registry's DELETE does. APIExecutor
// speaks the HTTP API with regclient (docker credentials, per-host limits)
// and retries with backoff on 429, 5xx and broken connections; it checks a
// tag still names the planned digest before deleting it, and refuses a
// tag-only deletion on a registry that cannot delete a tag alone (v2.x).
// StorageExecutor removes the same directories on the storage (through a
// walker.Remover), for a registry that is stopped or read-only: it refuses
// to run without that confirmation, and when an upload was active within a
// grace period.
//
// # Journal
//
// Execute writes to a journal (package internal/journal) a "delete-run"
// line (where, with which options), then every action as "planned", the
// refused candidates as "skipped", then "done", "failed" or "skipped" for
// each action as it ends, and a closing "delete-run" line with the summary.
// A deletion that finds nothing left to delete (a 404) is done. On Ctrl-C
// the requests in flight are answered and journaled; the rest are journaled
// as not attempted. ResumePlan reads a journal back into the actions no run
// did; re-planning their CandidateList against a fresh index re-checks them
// against the registry as it is now.
//
// The package prints nothing; the command renders plans and summaries.
package deleter
