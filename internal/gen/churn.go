package gen

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// streamChurn is the stream of randomness of ChangeTree, per repository.
const streamChurn = 5

// ChurnStats counts what ChangeTree did.
type ChurnStats struct {
	Repos             int // repositories changed
	Pushes            int // images pushed, each under a new tag or an existing one
	TagsDeleted       int
	ManifestsDeleted  int // untagged revisions deleted by digest
	LayerLinksDeleted int
	Blobs             int // blobs added
}

// Churn is a change ChangeTree made to a tree, and what Undo needs to
// revert it.
type Churn struct {
	Stats ChurnStats
	// Repos are the repositories changed, sorted.
	Repos []string

	v2   string
	undo []undoStep // in the order the changes were made
}

// undoStep reverts one change: a path made (removed again), or a file
// removed or rewritten (written back with its times).
type undoStep struct {
	made  string // a file or directory ChangeTree made
	path  string // a file ChangeTree removed or rewrote
	data  []byte
	mode  fs.FileMode
	mtime time.Time
	dir   bool // path was a directory ChangeTree removed
}

// ChangeTree changes about fraction of the repositories of the tree in dir
// (a storage rootdirectory) the way a registry in use would, and returns
// what it did, to Undo later. The repositories are every round(1/fraction)th
// of the listed ones in name order; each, in turn, gets one of: an image
// pushed under a new tag, an image pushed over an existing tag (which
// moves it and adds to its history), an untagged manifest deleted by digest
// (its revision link removed, its directory left, as the API does), or a
// tag deleted together with one of its layer links. Files are written as
// the registry's filesystem driver writes them: a link to a temporary file
// renamed into place, a blob uploaded under _uploads and moved into blobs/,
// all at the current time. What is pushed depends only on seed.
//
// A tree is not the one generated while changed: callers that cache trees
// must mark it so before, and unmark it only after Undo succeeds.
func ChangeTree(dir string, fraction float64, seed int64) (*Churn, error) {
	if fraction <= 0 || fraction > 1 {
		return nil, fmt.Errorf("change tree: fraction %v is not in (0, 1]", fraction)
	}
	c := &Churn{v2: filepath.Join(dir, "docker", "registry", "v2")}
	repos, err := listedRepositories(filepath.Join(c.v2, "repositories"))
	if err != nil {
		return nil, fmt.Errorf("change tree: %w", err)
	}
	every := max(1, int(1/fraction+0.5))
	now := time.Now()
	for i := 0; i < len(repos); i += every {
		n := i / every
		if err := c.changeRepo(repos[i], n, seed, now); err != nil {
			return c, fmt.Errorf("change repository %q: %w (Undo reverts what was done)", repos[i], err)
		}
		c.Repos = append(c.Repos, repos[i])
		c.Stats.Repos++
	}
	return c, nil
}

// listedRepositories returns the names of the directories below dir that
// hold _manifests, sorted.
func listedRepositories(dir string) ([]string, error) {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() || p == dir {
			return nil
		}
		if strings.HasPrefix(d.Name(), "_") {
			if d.Name() == "_manifests" {
				rel, err := filepath.Rel(dir, filepath.Dir(p))
				if err != nil {
					return err
				}
				names = append(names, filepath.ToSlash(rel))
			}
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list repositories: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

// changeRepo makes the n-th change, to repository name.
func (c *Churn) changeRepo(name string, n int, seed int64, now time.Time) error {
	repo := filepath.Join(c.v2, "repositories", filepath.FromSlash(name))
	tags, err := dirNames(filepath.Join(repo, "_manifests", "tags"))
	if err != nil {
		return err
	}
	switch n % 4 {
	case 0:
		return c.push(repo, fmt.Sprintf("churn-%d", seed), name, n, seed, now)
	case 1:
		if len(tags) > 0 {
			return c.push(repo, tags[0], name, n, seed, now)
		}
		return c.push(repo, fmt.Sprintf("churn-%d", seed), name, n, seed, now)
	case 2:
		d, ok, err := untaggedRevision(repo, tags)
		if err != nil || ok {
			if err == nil {
				c.Stats.ManifestsDeleted++
				err = c.remove(filepath.Join(repo, "_manifests", "revisions", "sha256", d.Encoded(), "link"))
			}
			return err
		}
	}
	if len(tags) > 0 {
		c.Stats.TagsDeleted++
		if err := c.remove(filepath.Join(repo, "_manifests", "tags", tags[len(tags)-1])); err != nil {
			return err
		}
	}
	layers, err := dirNames(filepath.Join(repo, "_layers", "sha256"))
	if err != nil || len(layers) == 0 {
		return err
	}
	c.Stats.LayerLinksDeleted++
	return c.remove(filepath.Join(repo, "_layers", "sha256", layers[0], "link"))
}

// dirNames returns the names in dir, sorted; none when it does not exist.
func dirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

// untaggedRevision returns the first revision, in digest order, that no
// tag's current link names.
func untaggedRevision(repo string, tags []string) (digest.Digest, bool, error) {
	current := map[string]bool{}
	for _, t := range tags {
		b, err := os.ReadFile(filepath.Join(repo, "_manifests", "tags", t, "current", "link"))
		if err != nil {
			return "", false, err
		}
		current[string(b)] = true
	}
	hexes, err := dirNames(filepath.Join(repo, "_manifests", "revisions", "sha256"))
	if err != nil {
		return "", false, err
	}
	for _, h := range hexes {
		d := digest.NewDigestFromEncoded(digest.SHA256, h)
		if _, err := os.Stat(filepath.Join(repo, "_manifests", "revisions", "sha256", h, "link")); err != nil {
			continue // deleted already: its directory stays
		}
		if !current[string(d)] {
			return d, true, nil
		}
	}
	return "", false, nil
}

// push pushes a new one-layer image to repo (named name) under tag, as a
// client does through the registry: the layer and config uploaded and
// linked, the manifest stored and linked, then the tag's history entry
// and current link written.
func (c *Churn) push(repo, tag, name string, n int, seed int64, now time.Time) error {
	r := newRand(seed, streamChurn, uint64(n))
	key := fmt.Sprintf("churn/%d/%s/%d", seed, name, n)
	// The content does not depend on the clock, only on seed: the same
	// change twice pushes the same blobs.
	created := DefaultEnd.Add(time.Duration(n) * time.Minute)
	l := newLayer(r, key, logNormal(r, 2000, 1, 200, 20000), false, "RUN churn", created)
	m := buildImage(imageSpec{
		oci: true, platform: v1.Platform{OS: "linux", Architecture: "amd64"}, created: created,
		layers: []layer{l}, labels: map[string]string{"churn": key},
	})
	for _, b := range []*blob{m.config, l.blob} {
		if err := c.upload(repo, b, now); err != nil {
			return err
		}
		if err := c.putContent(filepath.Join(repo, "_layers", "sha256", b.digest.Encoded(), "link"), []byte(b.digest), now); err != nil {
			return err
		}
	}
	if err := c.putContent(c.blobData(m.digest), m.data, now); err != nil {
		return err
	}
	c.Stats.Blobs++
	for _, link := range []string{
		filepath.Join(repo, "_manifests", "revisions", "sha256", m.digest.Encoded(), "link"),
		filepath.Join(repo, "_manifests", "tags", tag, "index", "sha256", m.digest.Encoded(), "link"),
		filepath.Join(repo, "_manifests", "tags", tag, "current", "link"),
	} {
		if err := c.putContent(link, []byte(m.digest), now); err != nil {
			return err
		}
	}
	c.Stats.Pushes++
	return nil
}

func (c *Churn) blobData(d digest.Digest) string {
	return filepath.Join(c.v2, "blobs", "sha256", d.Encoded()[:2], d.Encoded(), "data")
}

// upload stores b as a finished upload to repo does: written under
// _uploads/<uuid>, moved to its blob path, the upload directory removed
// (and _uploads with it when this made it).
func (c *Churn) upload(repo string, b *blob, now time.Time) error {
	dst := c.blobData(b.digest)
	if _, err := os.Stat(dst); err == nil {
		return nil // the registry keeps the blob it has
	}
	uploads := filepath.Join(repo, "_uploads")
	_, err := os.Stat(uploads)
	madeUploads := errors.Is(err, fs.ErrNotExist)
	up := filepath.Join(uploads, "churn-"+b.digest.Encoded()[:16])
	if err := os.MkdirAll(up, 0o777); err != nil {
		return fmt.Errorf("create upload directory: %w", err)
	}
	tmp := filepath.Join(up, "data")
	if err := writeFile(tmp, b.data, now); err != nil {
		return err
	}
	if err := c.mkdirAll(filepath.Dir(dst)); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("move upload into place: %w", err)
	}
	c.undo = append(c.undo, undoStep{made: dst})
	c.Stats.Blobs++
	if err := os.Remove(up); err != nil {
		return fmt.Errorf("remove upload directory: %w", err)
	}
	if madeUploads {
		if err := os.Remove(uploads); err != nil {
			return fmt.Errorf("remove upload directory: %w", err)
		}
	}
	return nil
}

// putContent writes path as the filesystem driver's PutContent does: a
// temporary file next to it, renamed over it. An existing file is kept for
// Undo.
func (c *Churn) putContent(path string, data []byte, now time.Time) error {
	if err := c.mkdirAll(filepath.Dir(path)); err != nil {
		return err
	}
	old, err := c.keep(path)
	if err != nil {
		return err
	}
	tmp := path + ".churn.tmp"
	if err := writeFile(tmp, data, now); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("move %q into place: %w", path, err)
	}
	if old == nil {
		c.undo = append(c.undo, undoStep{made: path})
	} else {
		c.undo = append(c.undo, *old)
	}
	return nil
}

// keep returns how to restore the file at path, or nil when there is none.
func (c *Churn) keep(path string) (*undoStep, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return &undoStep{path: path, data: data, mode: fi.Mode().Perm(), mtime: fi.ModTime()}, nil
}

// mkdirAll makes dir and its missing parents, recording each for Undo.
func (c *Churn) mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	if err := c.mkdirAll(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o777); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	c.undo = append(c.undo, undoStep{made: dir})
	return nil
}

// remove removes path, a file or a whole directory, as an API delete does,
// keeping everything in it for Undo.
func (c *Churn) remove(path string) error {
	var kept []undoStep
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			kept = append(kept, undoStep{path: p, dir: true})
			return nil
		}
		s, err := c.keep(p)
		if err != nil {
			return err
		}
		kept = append(kept, *s)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %q before removing it: %w", path, err)
	}
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove %q: %w", path, err)
	}
	// Undo runs backwards: the files last, after the directories they go in.
	slices.Reverse(kept)
	c.undo = append(c.undo, kept...)
	return nil
}

// Undo reverts the change, last step first: what ChangeTree made is
// removed, and what it removed or rewrote is written back with its
// modification time, so that the tree holds the same files, contents and
// file times as before (directory times are the system's). Undo of an
// undone change does nothing.
func (c *Churn) Undo() error {
	for len(c.undo) > 0 {
		s := c.undo[len(c.undo)-1]
		switch {
		case s.made != "":
			if err := os.Remove(s.made); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("undo change: %w", err)
			}
		case s.dir:
			if err := os.Mkdir(s.path, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("undo change: %w", err)
			}
		default:
			if err := restoreFile(s); err != nil {
				return fmt.Errorf("undo change: %w", err)
			}
		}
		c.undo = c.undo[:len(c.undo)-1]
	}
	return nil
}

// restoreFile writes a kept file back as it was.
func restoreFile(s undoStep) error {
	if cur, err := os.ReadFile(s.path); err == nil && bytes.Equal(cur, s.data) {
		if fi, err := os.Stat(s.path); err == nil && fi.ModTime().Equal(s.mtime) {
			return nil
		}
	}
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := writeFile(s.path, s.data, s.mtime); err != nil {
		return err
	}
	return os.Chmod(s.path, s.mode)
}
