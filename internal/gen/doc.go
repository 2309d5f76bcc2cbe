// Package gen writes synthetic but valid distribution registry storage
// trees, deterministic from a seed, for tests and benchmarks: the real
// registry serves them, its garbage collector accepts them, and every
// digest is the sha256 of its content.
//
//	st, err := gen.Generate(ctx, dir, gen.Params{Seed: 1, Repos: 20})
//	p, _ := gen.Preset("large") // 8,700 repositories, ~100k manifests
//
// # What a tree holds
//
// dir becomes a storage rootdirectory: dir/docker/registry/v2 with blobs/
// and repositories/ laid out as distribution v3's registry/storage/paths.go
// says. Each repository's history is simulated push by push, and the tree
// is what the registry would have left after it:
//
//   - repositories with nested names (team/app, team/app/worker, mirror/alpine),
//     log-normally many tags: most have a few, some hundreds;
//   - application images built FROM a pool of upstream base images (alpine,
//     python, ... each with versions released over time, some built on
//     others), chosen with Zipf-like popularity, so base layers are shared
//     widely; dependency layers shared between builds of one repository; a
//     few new layers per build;
//   - Docker schema2 and OCI manifests (a repository switches to OCI at some
//     point), multi-platform OCI indexes (some with BuildKit attestation
//     manifests) and Docker manifest lists whose children are revisions too;
//   - moving tags (latest, main, 1.4, prod) whose index/ keeps the history,
//     promotions of old builds, untagged pushes, deleted tags, deleted
//     manifests (their emptied revision directory stays, as on the
//     filesystem driver);
//   - OCI artifacts (signatures, attestations, SBOMs) with artifactType, the
//     empty config and a subject, tagged by cosign's sha256-<hex>.sig scheme
//     or listed in a referrers fallback index tagged sha256-<hex>;
//   - mirror repositories holding upstream images, so one manifest sits in
//     several repositories;
//   - orphan blobs, abandoned uploads (_uploads/<uuid> with startedat, data
//     and sha256 hash states, mostly older than the purge age) and a few
//     directories with only _layers or _uploads (first pushes that died);
//   - image configs with created (spread over two years), os, architecture,
//     labels, rootfs and history.
//
// Blob data is small (tens of bytes to a few kilobytes) but real: every
// descriptor's size is the length of what it names. Link files hold exactly
// "sha256:<hex>". File modification times are the simulated ones, as the
// registry would have set them: a blob's is its first upload anywhere, a
// layer link's the first upload to that repository, a revision link's the
// last push of that manifest there (every PUT rewrites it), a tag's
// current/link its last push and each index/ entry the last time the tag
// was pointed at that manifest. Directory times are left to the system.
//
// # Determinism
//
// The same Params (Seed, Repos, Start, End) give byte-identical trees and
// equal Stats, whatever Workers says. Names, the base image pool and the
// repository kinds are drawn first from one stream; each repository then
// draws from its own stream, so workers may build them in any order. Blobs
// of the base pool, which several repositories share, are written last
// with the earliest time any of them used it. History ends at DefaultEnd
// unless End says otherwise, never at the clock.
//
// # Cost
//
// Memory holds the base pool and the repositories being written, never
// the tree (about 70 MB for the large preset). Files are written with
// direct system calls, Workers repositories at a time; the large preset
// (1.06M files, 1.36M directories, 390 MB) takes about 90 s on two cores
// on ext4 and 30 s on tmpfs: the file system's time, not the generator's.
package gen
