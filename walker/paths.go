package walker

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// The paths below name the directories the registry's own deletes remove,
// relative to the v2 root. The deleter and the garbage collector use them so
// that the layout is known in one place.

// BlobDir is blobs/<alg>/<xx>/<hex>: what the registry's GC removes for an
// unreferenced blob.
func BlobDir(d digest.Digest) string {
	return strings.TrimSuffix(blobDataPath(d), "/data")
}

// RevisionDir is a repository's _manifests/revisions/<alg>/<hex>: what
// DELETE /v2/<repo>/manifests/<digest> removes (with the tags on it).
func RevisionDir(repo string, d digest.Digest) string {
	return "repositories/" + repo + "/_manifests/revisions/" + digestPath(d)
}

// TagDir is a repository's _manifests/tags/<tag>: what
// DELETE /v2/<repo>/manifests/<tag> removes, history included.
func TagDir(repo, tag string) string {
	return "repositories/" + repo + "/_manifests/tags/" + tag
}

// TagCurrentLink is the link that names a tag's manifest now.
func TagCurrentLink(repo, tag string) string {
	return TagDir(repo, tag) + "/current/link"
}

// TagIndexDir is a tag's history entry for one manifest.
func TagIndexDir(repo, tag string, d digest.Digest) string {
	return TagDir(repo, tag) + "/index/" + digestPath(d)
}

// LayerLinkDir is a repository's _layers/<alg>/<hex>: what
// DELETE /v2/<repo>/blobs/<digest> removes.
func LayerLinkDir(repo string, d digest.Digest) string {
	return "repositories/" + repo + "/_layers/" + digestPath(d)
}

// UploadDir is a repository's _uploads/<uuid>.
func UploadDir(repo, uuid string) string {
	return "repositories/" + repo + "/_uploads/" + uuid
}

// digestPath is "<alg>/<hex>" for a valid digest. For an invalid one it is
// "/", which no path helper's result survives checkRemovable with.
func digestPath(d digest.Digest) string {
	if !validDigest(d) {
		return "/"
	}
	alg, hex, _ := strings.Cut(string(d), ":")
	return alg + "/" + hex
}

// checkRemovable refuses paths that could reach outside what the registry's
// own deletes touch: empty, absolute, with . or .. components, or not under
// blobs/ or repositories/.
func checkRemovable(p string) error {
	if p == "" || strings.HasPrefix(p, "/") {
		return fmt.Errorf("refuse to remove %q: not a path inside the registry storage", p)
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." {
			return fmt.Errorf("refuse to remove %q: not a clean relative path", p)
		}
	}
	parts := strings.Split(p, "/")
	switch {
	case parts[0] == "blobs" && len(parts) >= 4:
	case parts[0] == "repositories" && len(parts) >= 3:
	default:
		return fmt.Errorf("refuse to remove %q: only blob, link, tag and upload directories are removed", p)
	}
	return nil
}
