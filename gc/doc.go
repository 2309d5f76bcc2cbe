// Package gc is regsql's garbage collector: it reclaims the space of a
// distribution registry's storage that nothing uses, like the registry's
// own "registry garbage-collect", without that command's known defects.
//
// It works in two steps, like restic's prune. NewPlan walks the storage
// (package walker), marks what is used and lists what to sweep; it changes
// nothing, and a dry run is a plan never executed. Plan.Execute removes
// what the plan lists, journaled, once.
//
// # Mark
//
// By default every manifest revision of every repository is a root, as in
// the registry's default mode. With Options.DeleteUntagged only what a
// tag's current link names is a root (tag history does not count). From a
// root the mark follows every config, layer and index child, and descends
// into every child it has a parsed manifest for, whichever repository
// holds it; subject is not followed. With KeepReferrers (the command
// line's default), a manifest whose subject is marked is marked too,
// recursively, so the signatures and SBOMs of kept images stay. The mark
// set is global, as the registry's.
//
// # Sweep
//
//   - blobs: every blob not marked, unless its data was written within
//     Options.Grace, or a repository linked it within Grace (a mount, or a
//     push reusing a stored blob: a manifest naming it may be on its way).
//   - layer links: each repository's _layers link to a swept blob, judged
//     against the final mark, so the result does not depend on the order
//     of repositories.
//   - revisions, with DeleteUntagged: each revision whose digest nothing
//     marked, with the tag history entries naming it (the registry's
//     vacuum removes those too). An untagged revision pushed within Grace
//     is a root instead: it may be the child of an index being pushed.
//   - uploads: those whose startedat is older than UploadsOlderThan (zero:
//     none). One without a readable startedat is never purged, as by the
//     registry's upload purger.
//
// # Where it is deliberately safer than the registry's garbage collector
//
// What the grace period, referrers, layers-only and held repositories and
// repositories without tags/ keep is reported in Plan.Retained with its
// Reason; the other differences are part of the mark itself.
//
//   - It never aborts on one bad file. The registry's aborts on a link it
//     cannot parse, a schema1 or unreadable manifest, a listed repository
//     without _layers; here the walk records each as a problem and goes on.
//   - A blob linked only from a directory with _layers but no _manifests
//     (what a first push into a new repository looks like while in
//     flight) is kept; the registry, which does not see such directories,
//     deletes it and leaves the link dangling. SweepLayersOnlyRepos sweeps
//     them as the registry does, and removes those links too.
//   - With DeleteUntagged, a repository with revisions but no tags/
//     directory is kept whole: the registry skips its revisions but
//     deletes their blobs, so the revisions stay and fail to pull. (On
//     object stores tags/ disappears with the last tag, so there too the
//     registry keeps such a repository's revisions.)
//   - A manifest is marked with its references wherever it is met: the
//     registry skips the references of a digest marked before, so with
//     --delete-untagged it deletes the config and layers of an index
//     child it first met in a repository that had deleted it.
//   - A reference by a non-sha256 digest is resolved through the layer
//     link at that digest in the repositories that have the manifest,
//     which holds the sha256 the blob is stored under; the registry marks
//     the non-sha256 digest and deletes the blob.
//   - A revision link whose content names another digest than its path
//     (an alias) keeps both digests' blobs; the registry keeps neither.
//   - A tag's digest is marked even when its repository has no revision
//     of it.
//   - The grace period, and a fresh look at every file just before it is
//     removed (see Plan.Execute). The registry's garbage collector takes
//     no lock and has neither: it deletes the blobs of pushes in flight.
//
// # What cannot be judged
//
// Nothing a walk could not read or parse is guessed at. The rules:
//
//   - A repository is held (Plan.Held, ReasonHeld) when one of its
//     revisions names a manifest that could not be read, or that the
//     registry cannot serve (schema1, an unknown media type, invalid or
//     truncated JSON, larger than the registry accepts); when a file or
//     directory in its _manifests (with DeleteUntagged; otherwise only in
//     revisions) or outside its _layers and _uploads could not be read;
//     or when it has a link that cannot be parsed or a link directory
//     without its link file there. A held repository keeps every
//     revision, and every blob its layer links name: the registry serves
//     a repository's blobs only through those links, so whatever such a
//     manifest references and a client can pull stays. A revision link
//     that could not be read keeps the manifest its path names.
//   - A problem in a repository's _layers matters only where layer links
//     keep blobs (a held or layers-only repository): there, a link that
//     cannot be read keeps the blob its path names.
//   - When a directory under repositories/ that may hold repositories,
//     revisions or (where they keep blobs) layer links could not be
//     listed, the mark may be incomplete: Plan.MarkIncomplete says why,
//     and no blob, layer link or revision is swept (only uploads).
//   - A part of blobs/ that could not be listed is not swept, since its
//     blobs were not seen.
//   - A revision whose manifest blob does not exist names nothing; it is
//     reported by the walk and left alone, as by the registry.
//
// What remains is the race the registry's own garbage collector has: a
// push that, after the plan, reuses a blob the plan sweeps without writing
// anything (the blob and its link already there, both older than the grace
// period). Run gc with the registry read-only, or stopped, to rule it out.
package gc
