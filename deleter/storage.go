package deleter

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/walker"
)

// StorageOptions configures a StorageExecutor.
type StorageOptions struct {
	// RegistryStopped is the user's word that no registry serves this
	// storage, or that it runs read-only. Without it Prepare refuses: a
	// registry writing while its links are removed can lose a push.
	RegistryStopped bool
	// UploadGrace: an upload started or written to less than this long ago
	// is a sign the registry is live after all, and Prepare refuses. 0
	// turns the check off.
	UploadGrace time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// StorageExecutor deletes on the registry's storage what the registry's own
// DELETE would: a tag's directory for a tag; for a manifest, its revision
// and every tag whose current link names it. It is for a registry that is
// stopped or read-only, or one whose API has deletes disabled.
type StorageExecutor struct {
	st   walker.Remover
	opts StorageOptions
}

// NewStorageExecutor returns an executor that deletes on st.
func NewStorageExecutor(st walker.Remover, opts StorageOptions) *StorageExecutor {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &StorageExecutor{st: st, opts: opts}
}

// The executor lists a few directories the walker's path helpers do not
// name; they are the parents of directories those helpers do name, so that
// the layout stays known in one place.
func tagsDir(repo string) string    { return path.Dir(walker.TagDir(repo, "x")) }
func uploadsDir(repo string) string { return path.Dir(walker.UploadDir(repo, "x")) }
func repoDir(repo string) string    { return path.Dir(path.Dir(tagsDir(repo))) }
func reposRoot() string             { return path.Dir(repoDir("x")) }
func revisionLink(repo string, d digest.Digest) string {
	return walker.RevisionDir(repo, d) + "/link"
}

// Prepare refuses to run unless the user said the registry is stopped or
// read-only, and then unless no upload was active within the grace period.
func (s *StorageExecutor) Prepare(ctx context.Context) error {
	if !s.opts.RegistryStopped {
		return ErrNotConfirmed
	}
	if s.opts.UploadGrace <= 0 {
		return nil
	}
	up, err := s.latestUpload(ctx, "")
	if err != nil {
		return fmt.Errorf("look for uploads in progress: %w", err)
	}
	if up.path != "" {
		if age := s.opts.Now().Sub(up.at); age < s.opts.UploadGrace {
			return fmt.Errorf("%w: upload %s was active %s ago (less than the grace period %s): stop the registry or make it read-only, and wait for the grace period",
				ErrRegistryLive, up.path, age.Round(time.Second), s.opts.UploadGrace)
		}
	}
	return nil
}

// activity is the most recent sign of an upload.
type activity struct {
	path string
	at   time.Time
}

// latestUpload walks the repositories below name ("" for all) as the
// registry does (a directory whose name starts with "_" is not descended
// into) and returns the upload most recently started or written to.
func (s *StorageExecutor) latestUpload(ctx context.Context, name string) (activity, error) {
	dir := reposRoot()
	if name != "" {
		dir = repoDir(name)
	}
	entries, err := s.st.List(ctx, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return activity{}, nil
	}
	if err != nil {
		return activity{}, err
	}
	var latest activity
	for _, e := range entries {
		if !e.IsDir {
			continue
		}
		var a activity
		switch {
		case e.Name == path.Base(uploadsDir("x")) && name != "":
			a, err = s.uploadActivity(ctx, name)
		case strings.HasPrefix(e.Name, "_"):
			continue
		default:
			a, err = s.latestUpload(ctx, strings.TrimPrefix(name+"/"+e.Name, "/"))
		}
		if err != nil {
			return activity{}, err
		}
		if a.at.After(latest.at) {
			latest = a
		}
	}
	return latest, nil
}

// uploadActivity returns the latest of a repository's uploads' startedat
// times and data modification times.
func (s *StorageExecutor) uploadActivity(ctx context.Context, repo string) (activity, error) {
	uploads, err := s.st.List(ctx, uploadsDir(repo))
	if errors.Is(err, fs.ErrNotExist) {
		return activity{}, nil
	}
	if err != nil {
		return activity{}, err
	}
	var latest activity
	for _, u := range uploads {
		if !u.IsDir {
			continue
		}
		dir := walker.UploadDir(repo, u.Name)
		if b, err := s.st.ReadFile(ctx, dir+"/startedat"); err == nil {
			if t, err := time.Parse(time.RFC3339, strings.TrimSpace(string(b))); err == nil && t.After(latest.at) {
				latest = activity{path: dir, at: t}
			}
		}
		if fi, err := s.st.Stat(ctx, dir+"/data"); err == nil && fi.ModTime.After(latest.at) {
			latest = activity{path: dir, at: fi.ModTime}
		}
	}
	return latest, nil
}

// DeleteTag removes the tag's directory if its current link still names
// want.
func (s *StorageExecutor) DeleteTag(ctx context.Context, repo, tag string, want digest.Digest) (Outcome, error) {
	// Started is finished: a removal is not cut off halfway by Ctrl-C.
	ctx = context.WithoutCancel(ctx)
	cur, err := s.tagDigest(ctx, repo, tag)
	if errors.Is(err, fs.ErrNotExist) {
		return Outcome{Gone: true}, nil
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("delete tag %s:%s: %w", repo, tag, err)
	}
	if cur != want {
		return Outcome{}, refused(ReasonStale, "tag %s:%s names %s now, the plan was made when it named %s", repo, tag, cur, want)
	}
	if err := s.st.Remove(ctx, walker.TagDir(repo, tag)); err != nil {
		return Outcome{}, fmt.Errorf("delete tag %s:%s: %w", repo, tag, err)
	}
	return Outcome{}, nil
}

// DeleteManifest removes every tag whose current link names d, then d's
// revision: the registry's order is the other way round, but this one
// leaves no tag naming a missing revision if it stops halfway. A tag naming
// d that is not in tags is one pushed since the plan was made: the
// deletion is refused rather than take it.
func (s *StorageExecutor) DeleteManifest(ctx context.Context, repo string, d digest.Digest, tags []string) (Outcome, error) {
	ctx = context.WithoutCancel(ctx)
	if _, err := s.st.Stat(ctx, revisionLink(repo, d)); errors.Is(err, fs.ErrNotExist) {
		return Outcome{Gone: true}, nil
	} else if err != nil {
		return Outcome{}, fmt.Errorf("delete manifest %s@%s: %w", repo, d, err)
	}
	on, err := s.tagsOn(ctx, repo, d)
	if err != nil {
		return Outcome{}, fmt.Errorf("delete manifest %s@%s: %w", repo, d, err)
	}
	var extra []string
	for _, t := range on {
		if !slices.Contains(tags, t) {
			extra = append(extra, t)
		}
	}
	if len(extra) > 0 {
		return Outcome{}, refused(ReasonStale, "tag(s) %s of %q name manifest %s now; the plan did not mean to delete them", strings.Join(extra, ", "), repo, short(d))
	}
	for _, t := range on {
		if err := s.st.Remove(ctx, walker.TagDir(repo, t)); err != nil {
			return Outcome{}, fmt.Errorf("delete manifest %s@%s: %w", repo, d, err)
		}
	}
	if err := s.st.Remove(ctx, walker.RevisionDir(repo, d)); err != nil {
		return Outcome{}, fmt.Errorf("delete manifest %s@%s: %w", repo, d, err)
	}
	return Outcome{}, nil
}

// tagDigest reads a tag's current link.
func (s *StorageExecutor) tagDigest(ctx context.Context, repo, tag string) (digest.Digest, error) {
	b, err := s.st.ReadFile(ctx, walker.TagCurrentLink(repo, tag))
	if err != nil {
		return "", err
	}
	d, err := walker.ParseLink(b)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", walker.TagCurrentLink(repo, tag), err)
	}
	return d, nil
}

// tagsOn lists the tags whose current link names d, as the registry's
// tag lookup does on a manifest delete.
func (s *StorageExecutor) tagsOn(ctx context.Context, repo string, d digest.Digest) ([]string, error) {
	entries, err := s.st.List(ctx, tagsDir(repo))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var on []string
	for _, e := range entries {
		if !e.IsDir {
			continue
		}
		cur, err := s.tagDigest(ctx, repo, e.Name)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, walker.ErrBadLink) {
			continue // a tag without a readable link names nothing
		}
		if err != nil {
			return nil, err
		}
		if cur == d {
			on = append(on, e.Name)
		}
	}
	return on, nil
}
