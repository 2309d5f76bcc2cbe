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
package walker
