// Package walker reads a distribution registry's storage and turns it into
// typed records. It owns the knowledge of the on-disk layout; it imports no
// SQL and prints nothing.
//
// Everything lives under <driver root>/docker/registry/v2:
//
//	blobs/<alg>/<hex[0:2]>/<hex>/data                         blob content (manifests too)
//	repositories/<name>/_layers/<alg>/<hex>/link              a repository's layer link
//	repositories/<name>/_manifests/revisions/<alg>/<hex>/link a manifest revision
//	repositories/<name>/_manifests/tags/<tag>/current/link    the tag's manifest now
//	repositories/<name>/_manifests/tags/<tag>/index/<alg>/<hex>/link  tag history
//	repositories/<name>/_uploads/<uuid>/{data,startedat,hashstates/...}
//
// A link file holds exactly "<alg>:<hex>", no newline; the registry parses it
// strictly and so does the walker. A directory is a repository if and only if
// it directly contains _manifests; the walk never descends into an entry whose
// name starts with "_" looking for repositories, so names nest ("org/app" and
// "org/app/sub"). Manifests are ordinary blobs; only a revision link makes one
// part of a repository. Link file modification times are push times: a tag's
// current/link mtime is when the tag was last pushed.
//
// The walker never stops at one bad file: every anomaly becomes a Problem
// and the walk goes on. Records go to a Sink, from one goroutine.
//
// # Storage
//
// Walk reads a Storage: DirStorage reads a local v2 root with plain os calls
// (OpenRoot finds it from the registry's rootdirectory); DriverStorage reads
// through one of distribution's storage drivers (filesystem, s3, gcs, azure),
// opened from the registry's own config.yml by OpenConfig. Both give the same
// records for the same tree.
//
// A DriverStorage bounds, paces, retries and counts its requests
// (DriverOptions, Requests). On S3 a walk does not go directory by directory
// (a List and a Stat per entry): it lists every key below the v2 root at the
// start, in key ranges side by side, with sizes, times and ETags, and walks
// that listing in memory (objectstore.go). A link whose ETag is the MD5 of
// the digest it should hold is not read at all (s3list.go); the manifests,
// image configs and remaining links are read ahead, many at once
// (prefetch.go). A failure that concerns the whole store (refused
// credentials, no such bucket: ErrStorageRefused) or persists through the
// retries (ErrStorageUnavailable) stops the walk rather than become a
// problem record.
//
// # How a walk goes
//
// First every blobs/<alg>/<xx>/<hex>/data is listed, one worker per <xx>
// directory, and sent as a Blob; the walk keeps only a sorted array of
// (sha256, size), 40 bytes a blob. Then repositories/ is walked, one worker
// per directory: each repository's revisions, then its tags and their
// history, its layer links and its uploads. Because the blob set is complete
// by then, a link is checked against it as it is read and never held in
// memory. Each distinct manifest a revision targets is read once, whatever
// the number of repositories linking it, parsed with ParseManifest, and the
// config blob of an image is read once per config digest while the last few
// thousand configs read are remembered (ParseImageConfig). Besides the blob
// set, memory holds the set of manifest digests read: about 100 bytes a
// blob and a manifest, and nothing per link file.
//
// Where part of blobs/ cannot be read, a blob missing from the set is looked
// up directly before a link is called dangling: an unreadable directory
// never makes a link look dangling (something a pruner could act on).
//
// # Reading only what changed
//
// NewRescan compares the storage with a Baseline (what an earlier walk
// found, and when it started) by change times alone, and says which
// repositories to read again and which blobs came and went; its WalkRepos
// and ReadManifests read those as Walk would. It lists a directory only
// when its link count does not say that it holds just the subdirectories
// the Baseline names: a listing reads directory blocks from disk when the
// page cache is cold. Rescan's doc says which files and directories it
// looks at, and why that misses no change the registry makes.
//
// # What the records say, where the registry is subtle
//
// A revision's Digest is its path, as the API resolves it; the registry's
// garbage collector, though, enumerates revisions by link content and skips
// one whose content names a digest without a revision link of its own (an
// alias, ProblemRevisionAlias), so it never keeps that manifest's blob.
// A manifest with no mediaType is an index when it has a manifests array,
// else an OCI image manifest, as the registry reads it. An image manifest
// without artifactType whose config is not an image config (a Helm chart,
// say) gets the config's mediaType as its ArtifactType, as the OCI image
// spec defines it. Schema1 and unknown manifests keep the layers they name as
// references, so that nothing they use looks unused.
package walker
