package walker

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// walkRepoTree finds repositories below dir by the registry's own rule: a
// directory is a repository iff it directly contains _manifests, and entries
// starting with "_" are never descended into. Each child directory may be
// walked by another worker. It reports false when dir cannot be read.
func (w *walker) walkRepoTree(dir, name string, self Entry) bool {
	if !self.IsDir {
		w.problem(ProblemStrayFile, dir, "", "", "%s is a file, not a directory", dir)
		return false
	}
	entries, err := w.st.List(w.ctx, dir)
	if err != nil {
		w.readError(dir, "", err)
		return false
	}
	var manifests, layers, uploads bool
	for _, e := range entries {
		switch e.Name {
		case "_manifests":
			manifests = true // the catalog does not look at what it is
		case "_layers":
			layers = e.IsDir
		case "_uploads":
			uploads = e.IsDir
		}
	}
	for _, e := range entries {
		if !e.IsDir || strings.HasPrefix(e.Name, "_") {
			continue
		}
		w.spawn(func(w *walker) { w.walkRepoTree(dir+"/"+e.Name, path.Join(name, e.Name), e) })
	}
	if name != "" && (manifests || layers || uploads) {
		w.walkRepo(name, dir, manifests, layers, uploads)
	}
	return true
}

func (w *walker) walkRepo(name, dir string, manifests, layers, uploads bool) {
	if !w.send(Repository{Name: name, Listed: manifests, HasLayers: layers, HasUploads: uploads}) {
		return
	}
	switch {
	case !manifests:
		w.problem(ProblemLayersOnlyRepo, dir, name, "",
			"%q has _layers or _uploads but no _manifests: the registry's catalog and garbage collector do not see it, and GC deletes the blobs only it links", name)
	case !validRepoName(name):
		w.problem(ProblemInvalidRepoName, dir, name, "",
			"%q is not a valid repository name: the registry's garbage collector aborts on it", name)
	}
	if manifests {
		revisions := w.walkRevisions(name, dir+"/_manifests/revisions")
		w.walkTags(name, dir+"/_manifests/tags", revisions)
	}
	if layers {
		w.walkLayers(name, dir+"/_layers")
	}
	if uploads {
		w.walkUploads(name, dir+"/_uploads")
	}
}

// walkRevisions sends the revisions of a repository and reads the manifest
// of each target not read yet. It returns the revision digests (from the
// paths) that have a readable link, for checking the tags.
func (w *walker) walkRevisions(repo, dir string) map[digest.Digest]struct{} {
	revisions := map[digest.Digest]struct{}{}
	w.walkDigestDirs(repo, dir, func(d digest.Digest, linkDir string, held heldDir) {
		target, linkedAt, ok := w.readRevisionLink(repo, linkDir, d, held)
		if !ok {
			return
		}
		linkPath := linkDir + "/link"
		revisions[d] = struct{}{}
		if !w.send(Revision{Repo: repo, Digest: d, Target: target, LinkedAt: linkedAt}) {
			return
		}
		if target != d {
			w.problem(ProblemRevisionAlias, linkPath, repo, d,
				"revision %s links %s: the garbage collector enumerates revisions by link content, finds no revision link for %s and skips this one, so it does not keep that blob for %q", d, target, target, repo)
		}
		if target.Algorithm() != digest.SHA256 {
			w.problem(ProblemNonSHA256, linkPath, repo, target, "revision %s links %s, not a sha256 digest", d, target)
		}
		size, state := w.blob(target)
		switch state {
		case blobAbsent:
			w.problem(ProblemMissingBlob, linkPath, repo, target,
				"revision %s of %q: manifest blob %s does not exist", d, repo, target)
			return
		case blobUnknown:
			return
		}
		if !w.skipManifests && w.manifests.claim(target) {
			w.readManifest(target, size)
		}
	})
	return revisions
}

func (w *walker) readManifest(d digest.Digest, size int64) {
	p := blobDataPath(d)
	if size > maxManifestSize {
		w.send(Manifest{Digest: d, Kind: KindInvalid, Size: size})
		w.problem(ProblemManifestInvalid, p, "", d,
			"manifest %s is %d bytes, more than the %d the registry accepts; not read", d, size, maxManifestSize)
		return
	}
	body, ok := w.readBlob(p, size)
	if !ok {
		return
	}
	m, problems := ParseManifest(d, body)
	if m.Kind == KindImage && validDigest(m.Config) {
		for _, r := range m.References {
			if r.Kind == RefConfig && isImageConfigType(r.MediaType) {
				m.Image = w.imageConfig(m.Config, d)
				break
			}
		}
	}
	if !w.send(m) {
		return
	}
	for _, pr := range problems {
		w.send(pr)
	}
}

// maxConfigsKept bounds the image configs remembered. Manifests that share
// a config (the platforms of one build rarely do; retags of one image
// share the manifest itself) are mostly found close together, in one
// repository; remembering every config would grow the walk's memory with
// the registry, by half a kilobyte a manifest.
const maxConfigsKept = 4096

// configEntry is an image config read once and shared by the manifests
// that use it while it is remembered.
type configEntry struct {
	done chan struct{}
	img  *ImageConfig
}

// imageConfig returns the parsed config blob cfg of manifest m, reading it
// only the first time any worker asks for it.
func (w *walker) imageConfig(cfg, m digest.Digest) *ImageConfig {
	w.configMu.Lock()
	e, loading := w.configs[cfg]
	if !loading {
		e = &configEntry{done: make(chan struct{})}
		w.configs[cfg] = e
		w.configOrder = append(w.configOrder, cfg)
		if len(w.configOrder) > maxConfigsKept {
			// Forget the oldest: a manifest that shares it and comes
			// later reads it again. Whoever waits on it holds e.
			delete(w.configs, w.configOrder[0])
			w.configOrder = w.configOrder[1:]
		}
	}
	w.configMu.Unlock()
	if loading {
		select {
		case <-e.done:
			return e.img
		case <-w.ctx.Done():
			return nil
		}
	}
	defer close(e.done)
	e.img = w.loadImageConfig(cfg, m)
	return e.img
}

func (w *walker) loadImageConfig(cfg, m digest.Digest) *ImageConfig {
	p := blobDataPath(cfg)
	size, state := w.blob(cfg)
	switch state {
	case blobAbsent:
		w.problem(ProblemConfigInvalid, p, "", cfg, "config blob %s of manifest %s does not exist", cfg, m)
		return nil
	case blobUnknown:
		return nil
	}
	if size > maxConfigSize {
		w.problem(ProblemConfigInvalid, p, "", cfg, "config blob %s of manifest %s is %d bytes; not read", cfg, m, size)
		return nil
	}
	b, ok := w.readBlob(p, size)
	if !ok {
		return nil
	}
	ic, err := ParseImageConfig(b)
	if err != nil {
		w.problem(ProblemConfigInvalid, p, "", cfg, "config blob %s of manifest %s: %v", cfg, m, err)
		return nil
	}
	return &ic
}

func (w *walker) walkTags(repo, dir string, revisions map[digest.Digest]struct{}) {
	tags, ok := w.list(dir, repo)
	if !ok {
		return
	}
	for _, t := range tags {
		if w.ctx.Err() != nil {
			return
		}
		tagDir := dir + "/" + t.Name
		if !t.IsDir {
			w.stray(repo, tagDir, "where a tag directory belongs")
			continue
		}
		if !w.verify && w.walkTagByPath(repo, t.Name, tagDir, revisions) {
			continue
		}
		w.walkTagDir(repo, t.Name, tagDir, revisions)
	}
}

// walkTagByPath reads a tag without listing its directory, as the registry
// does: it opens current/link by its path and lists only index/. Only
// stray files in the tag's directory go unreported (Options.Verify lists
// it). It reports false, having sent nothing, when current/link is not a
// file there; walkTagDir then lists the directory to say what is wrong.
func (w *walker) walkTagByPath(repo, tag, tagDir string, revisions map[digest.Digest]struct{}) bool {
	lr, ok := w.st.(linkReader)
	if !ok {
		return false
	}
	currentDir := tagDir + "/current"
	linkPath := currentDir + "/link"
	b, mod, err := lr.readLink(w.ctx, linkPath)
	var current digest.Digest
	switch {
	case err == nil:
		w.filesRead.Add(1)
		if d, pushedAt, ok := w.parseLink(repo, linkPath, b, mod); ok {
			w.tagFound(repo, tag, currentDir, d, pushedAt, revisions)
			current = d
		}
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, errIsDir):
		return false
	default:
		w.readError(linkPath, repo, err)
	}
	if !w.walkTagIndexOf(repo, tag, tagDir+"/index", current) {
		w.walkTagIndex(repo, tag, tagDir+"/index")
	}
	return true
}

// walkTagIndexOf reads a tag's history without listing it when link
// counts say it is one entry, which must then be the digest current (the
// registry links a tag's history entry before its current link, and its
// garbage collector removes no entry a tag's current link names): it looks
// that entry up by name. A tag pushed once, most of them, thereby costs no
// listing. It reports false, having sent nothing, when it cannot tell;
// walkTagIndex then lists the history.
func (w *walker) walkTagIndexOf(repo, tag, dir string, current digest.Digest) bool {
	sp, ok := w.st.(subdirProber)
	if !ok || w.verify || current.Validate() != nil || current.Algorithm() != digest.SHA256 ||
		!sp.soleSubdir(w.ctx, dir, string(digest.SHA256)) ||
		!sp.soleSubdir(w.ctx, dir+"/"+string(digest.SHA256), current.Encoded()) {
		return false
	}
	w.tagHistory(repo, tag, current, dir+"/"+string(digest.SHA256)+"/"+current.Encoded(), nil)
	return true
}

// walkTagDir reads a tag by listing its directory.
func (w *walker) walkTagDir(repo, tag, tagDir string, revisions map[digest.Digest]struct{}) {
	entries, ok := w.list(tagDir, repo)
	if !ok {
		return
	}
	hasCurrent := false
	for _, e := range entries {
		switch {
		case e.Name == "current" && e.IsDir:
			hasCurrent = true
			w.walkTagCurrent(repo, tag, tagDir+"/current", revisions)
		case e.Name == "index" && e.IsDir:
			w.walkTagIndex(repo, tag, tagDir+"/index")
		default:
			w.stray(repo, tagDir+"/"+e.Name, "in a tag directory, where only current/ and index/ belong")
		}
	}
	if !hasCurrent {
		w.problem(ProblemMissingLink, tagDir+"/current/link", repo, "",
			"tag %q of %q has no current/link: the registry lists the tag but cannot resolve it", tag, repo)
	}
}

func (w *walker) walkTagCurrent(repo, tag, currentDir string, revisions map[digest.Digest]struct{}) {
	d, pushedAt, ok := w.readLink(repo, currentDir, nil)
	if !ok {
		return
	}
	w.tagFound(repo, tag, currentDir, d, pushedAt, revisions)
}

// tagFound sends a tag whose current link names d, and its problems.
func (w *walker) tagFound(repo, tag, currentDir string, d digest.Digest, pushedAt time.Time, revisions map[digest.Digest]struct{}) {
	if !w.send(Tag{Repo: repo, Name: tag, Digest: d, PushedAt: pushedAt}) {
		return
	}
	linkPath := currentDir + "/link"
	what := "tag " + repo + ":" + tag
	w.checkLink(repo, linkPath, what, d)
	if _, ok := revisions[d]; !ok {
		w.problem(ProblemTagWithoutTarget, linkPath, repo, d,
			"%s names %s, which has no revision link in %q: pulling the tag fails", what, d, repo)
	}
}

func (w *walker) walkTagIndex(repo, tag, dir string) {
	w.walkDigestDirs(repo, dir, func(named digest.Digest, linkDir string, held heldDir) {
		w.tagHistory(repo, tag, named, linkDir, held)
	})
}

// tagHistory reads and sends the tag history entry in linkDir, named.
func (w *walker) tagHistory(repo, tag string, named digest.Digest, linkDir string, held heldDir) {
	d, linkedAt, ok := w.readDigestLink(repo, linkDir, named, held)
	if !ok {
		return
	}
	if w.send(TagHistory{Repo: repo, Tag: tag, Digest: d, LinkedAt: linkedAt}) {
		w.checkLink(repo, linkDir+"/link", "history of tag "+repo+":"+tag, d)
	}
}

func (w *walker) walkLayers(repo, dir string) {
	w.walkDigestDirs(repo, dir, func(named digest.Digest, linkDir string, held heldDir) {
		d, linkedAt, ok := w.readDigestLink(repo, linkDir, named, held)
		if !ok {
			return
		}
		if w.send(LayerLink{Repo: repo, Digest: d, LinkedAt: linkedAt}) {
			w.checkLink(repo, linkDir+"/link", "layer link of "+repo, d)
		}
	})
}

// checkLink reports a link to a blob that does not exist, and one by a
// digest other than sha256.
func (w *walker) checkLink(repo, linkPath, what string, d digest.Digest) {
	if d.Algorithm() != digest.SHA256 {
		w.problem(ProblemNonSHA256, linkPath, repo, d, "%s links %s, not a sha256 digest", what, d)
	}
	if _, state := w.blob(d); state == blobAbsent {
		w.problem(ProblemDanglingLink, linkPath, repo, d, "%s names %s, whose blob does not exist", what, d)
	}
}

func (w *walker) walkUploads(repo, dir string) {
	uploads, ok := w.list(dir, repo)
	if !ok {
		return
	}
	for _, u := range uploads {
		if w.ctx.Err() != nil {
			return
		}
		upDir := dir + "/" + u.Name
		if !u.IsDir {
			w.stray(repo, upDir, "where an upload directory belongs")
			continue
		}
		entries, ok := w.list(upDir, repo)
		if !ok {
			continue
		}
		up := Upload{Repo: repo, UUID: u.Name}
		var startedAt []byte
		var hasStartedAt, readStartedAt bool
		for _, e := range entries {
			switch {
			case e.Name == "data" && !e.IsDir:
				up.Size = e.Size
			case e.Name == "startedat" && !e.IsDir:
				hasStartedAt = true
				startedAt, readStartedAt = w.readFile(upDir+"/startedat", repo)
			case e.Name == "hashstates" && e.IsDir:
			default:
				w.stray(repo, upDir+"/"+e.Name, "in an upload directory, where only data, startedat and hashstates/ belong")
			}
		}
		var parseErr error
		if readStartedAt {
			// Parsed as the registry's upload purger does.
			var t time.Time
			t, parseErr = time.Parse(time.RFC3339, string(startedAt))
			up.StartedAt = t.UTC()
			if parseErr != nil {
				up.StartedAt = time.Time{}
			}
		}
		if !w.send(up) {
			return
		}
		switch {
		case !hasStartedAt:
			w.problem(ProblemBadUpload, upDir+"/startedat", repo, "",
				"upload %s of %q has no startedat: the registry's upload purger cannot age it", u.Name, repo)
		case parseErr != nil:
			w.problem(ProblemBadUpload, upDir+"/startedat", repo, "",
				"upload %s of %q: startedat %s is not an RFC 3339 time", u.Name, repo, quote(startedAt))
		}
	}
}

// walkDigestDirs calls fn for every <alg>/<hex> directory below dir, the
// shape of revisions/, _layers/ and a tag's index/, with the <alg>
// directory held open when the storage can (held is nil otherwise).
//
// Without Options.Verify, a directory whose only subdirectory is sha256/
// (as every registry writes them) is not listed when the storage can tell
// that from link counts: a stray file beside sha256/ goes unreported.
func (w *walker) walkDigestDirs(repo, dir string, fn func(d digest.Digest, linkDir string, held heldDir)) {
	var algs []Entry
	if sp, can := w.st.(subdirProber); can && !w.verify && sp.soleSubdir(w.ctx, dir, string(digest.SHA256)) {
		algs = []Entry{{Name: string(digest.SHA256), IsDir: true}}
	} else {
		var ok bool
		if algs, ok = w.list(dir, repo); !ok {
			return
		}
	}
	for _, a := range algs {
		algDir := dir + "/" + a.Name
		if !a.IsDir {
			w.stray(repo, algDir, "where a digest algorithm directory belongs")
			continue
		}
		if hexLen(a.Name) == 0 {
			w.problem(ProblemBadLink, algDir, repo, "", "%s is not named by a digest algorithm (sha256, sha384, sha512)", algDir)
			continue
		}
		hexes, held, ok := w.listHeld(algDir, repo)
		if !ok {
			continue
		}
		if held != nil {
			defer held.close()
		}
		for _, h := range hexes {
			if w.ctx.Err() != nil {
				return
			}
			linkDir := algDir + "/" + h.Name
			if !h.IsDir {
				w.stray(repo, linkDir, "where a link directory belongs")
				continue
			}
			d, ok := digestFromPath(a.Name, h.Name)
			if !ok {
				w.problem(ProblemBadLink, linkDir, repo, "", "%s is not named by a %s digest", linkDir, a.Name)
				continue
			}
			if h.Symlink {
				// Followed, as the registry's driver does. A Rescan's probe
				// cannot tell it from a directory by link counts: see
				// Baseline.Reread.
				w.problem(ProblemSymlink, linkDir, repo, d, "%s is a symbolic link, which the registry never makes (followed)", linkDir)
			}
			fn(d, linkDir, held)
		}
	}
}

// readRevisionLink reads the revision link in linkDir, named d: as
// readDigestLink does when the walk trusts revision paths, else always,
// for an alias (a link naming another digest of the same length) changes
// what the garbage collector keeps.
func (w *walker) readRevisionLink(repo, linkDir string, d digest.Digest, held heldDir) (digest.Digest, time.Time, bool) {
	if w.trustRevisionPaths {
		return w.readDigestLink(repo, linkDir, d, held)
	}
	return w.readLink(repo, linkDir, held)
}

// readDigestLink reads the link of a directory named by digest named: a
// layer link or a tag history entry. The registry writes such a link with
// the digest of its path, so without Options.Verify a readable link file of
// exactly that digest's length is taken to hold it and is only stat'ed; any
// other size (a newline, another algorithm, garbage) is read and judged by
// readLink. Verify reads every link; so does readRevisionLink when the
// walk does not trust revision paths.
func (w *walker) readDigestLink(repo, linkDir string, named digest.Digest, held heldDir) (digest.Digest, time.Time, bool) {
	if !w.verify {
		size, modTime, can, err := w.statLinkFile(linkDir, held)
		if can && err == nil && size == int64(len(named)) {
			return named, modTime, true
		}
	}
	return w.readLink(repo, linkDir, held)
}

// readLink reads the link file of a link directory strictly, as the
// registry does. ok is false when there is no usable link; the reason is
// reported. An empty directory is no anomaly: the registry's own deletes
// (a manifest by digest, a blob, the GC's layer-link sweep) remove only the
// link file and leave its directory behind, and the registry ignores it. A
// tag's current/ is different: the tag is listed but cannot be resolved.
func (w *walker) readLink(repo, linkDir string, held heldDir) (d digest.Digest, modTime time.Time, ok bool) {
	if !w.verify {
		if b, mod, can, err := w.readLinkFile(linkDir, held); can {
			switch {
			case err == nil:
				w.filesRead.Add(1)
				return w.parseLink(repo, linkDir+"/link", b, mod)
			case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errIsDir):
				w.readError(linkDir+"/link", repo, err)
				return "", time.Time{}, false
			}
			// No link file: the listing below tells an empty directory,
			// which the registry ignores, from a missing link.
		}
	}
	entries, ok := w.list(linkDir, repo)
	if !ok {
		return "", time.Time{}, false
	}
	if len(entries) == 0 && path.Base(linkDir) != "current" {
		return "", time.Time{}, false
	}
	var link *Entry
	for i, e := range entries {
		if e.Name == "link" && !e.IsDir {
			link = &entries[i]
			continue
		}
		w.stray(repo, linkDir+"/"+e.Name, "in a link directory, where only link belongs")
	}
	linkPath := linkDir + "/link"
	if link == nil {
		w.problem(ProblemMissingLink, linkPath, repo, "", "%s has no link file", linkDir)
		return "", time.Time{}, false
	}
	b, ok := w.readFile(linkPath, repo)
	if !ok {
		return "", time.Time{}, false
	}
	return w.parseLink(repo, linkPath, b, link.ModTime)
}

// readLinkFile reads linkDir/link by its path, from held (the directory
// holding linkDir) when there is one; can is false when the storage cannot
// read a file without listing its directory.
func (w *walker) readLinkFile(linkDir string, held heldDir) (b []byte, modTime time.Time, can bool, err error) {
	if held != nil {
		b, modTime, err = held.readLink(path.Base(linkDir) + "/link")
		return b, modTime, true, err
	}
	if lr, ok := w.st.(linkReader); ok {
		b, modTime, err = lr.readLink(w.ctx, linkDir+"/link")
		return b, modTime, true, err
	}
	return nil, time.Time{}, false, nil
}

// statLinkFile stats linkDir/link as linkStater does, from held when there
// is one; can is false when the storage cannot.
func (w *walker) statLinkFile(linkDir string, held heldDir) (size int64, modTime time.Time, can bool, err error) {
	if held != nil {
		size, modTime, err = held.statLink(path.Base(linkDir) + "/link")
		return size, modTime, true, err
	}
	if ls, ok := w.st.(linkStater); ok {
		size, modTime, err = ls.statLink(w.ctx, linkDir+"/link")
		return size, modTime, true, err
	}
	return 0, time.Time{}, false, nil
}

func (w *walker) parseLink(repo, linkPath string, b []byte, modTime time.Time) (digest.Digest, time.Time, bool) {
	d, err := ParseLink(b)
	if err != nil {
		w.problem(ProblemBadLink, linkPath, repo, "", "%v: the registry fails on this link", err)
		return "", time.Time{}, false
	}
	return d, modTime, true
}

func (w *walker) stray(repo, p, where string) {
	w.problem(ProblemStrayFile, p, repo, "", "stray %s %s", path.Base(p), where)
}
