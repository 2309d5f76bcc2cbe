package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regsql/regsql/walker"
)

// writer is the walker.Sink that loads a walk's records into the tables of
// one open transaction. The walker calls it from one goroutine, so it needs
// no locking.
//
// Repositories are kept in memory and inserted by finish: records name
// repositories by string, and a record may name one the walker never
// reported (the writer then creates it, listed = 0) or report flags after
// the first record that names it.
type writer struct {
	ctx     context.Context
	repos   map[string]*repoRow
	order   []*repoRow // in id order
	firstID int64      // of order[0]: 1, or past the repositories an incremental build keeps

	tags, history, revisions, layers, uploads, blobs, manifests, refs, problems *batch
	all                                                                         []*batch

	// graph, in a full build, assembles the graph derive needs from the
	// rows as they are inserted, which saves reading them all back (1.5 s
	// on the large tree). nil in an incremental build.
	graph *graphBuilder
}

type repoRow struct {
	id                           int64
	name                         string
	listed, hasLayers, hasUpload bool
}

var _ walker.Sink = (*writer)(nil)

// Link tables keep the first row for a key: an alias link can name the same
// digest twice, and one odd file must not fail the whole index.
const keepFirst = "ON CONFLICT DO NOTHING"

func newWriter(ctx context.Context, tx *sql.Tx) *writer {
	w := &writer{
		ctx:       ctx,
		repos:     map[string]*repoRow{},
		firstID:   1,
		tags:      newBatch(tx, "tags", []string{"repo_id", "name", "digest", "pushed_at"}, keepFirst),
		history:   newBatch(tx, "tag_history", []string{"repo_id", "tag", "digest", "linked_at"}, keepFirst),
		revisions: newBatch(tx, "revisions", []string{"repo_id", "digest", "target", "linked_at"}, keepFirst),
		layers:    newBatch(tx, "layer_links", []string{"repo_id", "digest", "linked_at"}, keepFirst),
		uploads:   newBatch(tx, "uploads", []string{"repo_id", "uuid", "started_at", "size"}, keepFirst),
		blobs:     newBatch(tx, "blobs", []string{"digest", "size", "modified_at"}, keepFirst),
		manifests: newBatch(tx, "manifests", []string{
			"digest", "media_type", "kind", "schema_version", "artifact_type", "config_digest",
			"subject_digest", "size", "total_size", "created", "os", "arch", "variant", "labels", "body",
		}, keepFirst),
		refs: newBatch(tx, "refs", []string{
			"manifest_digest", "kind", "position", "digest", "media_type", "size",
			"artifact_type", "platform_os", "platform_arch", "platform_variant",
		}, keepFirst),
		problems: newBatch(tx, "problems", []string{"kind", "repo_id", "path", "digest", "message"}, ""),
	}
	w.all = []*batch{w.tags, w.history, w.revisions, w.layers, w.uploads, w.blobs, w.manifests, w.refs, w.problems}
	return w
}

// repo returns the row of the named repository, creating it (not listed)
// when no Repository record came first.
func (w *writer) repo(name string) *repoRow {
	r, ok := w.repos[name]
	if !ok {
		r = &repoRow{id: w.firstID + int64(len(w.order)), name: name}
		w.repos[name] = r
		w.order = append(w.order, r)
		if w.graph != nil {
			w.graph.addRepo(r.id, name, false) // listed: see graphOf
		}
	}
	return r
}

func (w *writer) Repository(r walker.Repository) error {
	row := w.repo(r.Name)
	row.listed = row.listed || r.Listed
	row.hasLayers = row.hasLayers || r.HasLayers
	row.hasUpload = row.hasUpload || r.HasUploads
	return nil
}

func (w *writer) Tag(t walker.Tag) error {
	if w.graph != nil {
		w.graph.tag(pendingTag{repo: w.graphRepo(t.Repo), name: t.Name, digest: string(t.Digest), pushedAt: unixOrNoTime(t.PushedAt)})
	}
	return w.tags.add(w.ctx, w.repo(t.Repo).id, t.Name, string(t.Digest), unixOrNull(t.PushedAt))
}

func (w *writer) TagHistory(h walker.TagHistory) error {
	if w.graph != nil {
		w.graph.g.repos[w.graphRepo(h.Repo)].hasTags = true
	}
	return w.history.add(w.ctx, w.repo(h.Repo).id, h.Tag, string(h.Digest), unixOrNull(h.LinkedAt))
}

func (w *writer) Revision(v walker.Revision) error {
	target := v.Target
	if target == "" {
		target = v.Digest
	}
	if w.graph != nil {
		w.graph.revision(w.graphRepo(v.Repo), string(v.Digest), string(target))
	}
	return w.revisions.add(w.ctx, w.repo(v.Repo).id, string(v.Digest), string(target), unixOrNull(v.LinkedAt))
}

func (w *writer) LayerLink(l walker.LayerLink) error {
	return w.layers.add(w.ctx, w.repo(l.Repo).id, string(l.Digest), unixOrNull(l.LinkedAt))
}

func (w *writer) Upload(u walker.Upload) error {
	return w.uploads.add(w.ctx, w.repo(u.Repo).id, u.UUID, unixOrNull(u.StartedAt), u.Size)
}

func (w *writer) Blob(b walker.Blob) error {
	if w.graph != nil {
		w.graph.blob(string(b.Digest), b.Size, unixOrNoTime(b.ModifiedAt))
	}
	return w.blobs.add(w.ctx, string(b.Digest), b.Size, unixOrNull(b.ModifiedAt))
}

func (w *writer) Manifest(m walker.Manifest) error {
	var (
		created            any
		osName, arch, vari any
		labels             any
	)
	if img := m.Image; img != nil {
		created = unixOrNull(img.Created)
		osName, arch, vari = textOrNull(img.OS), textOrNull(img.Architecture), textOrNull(img.Variant)
		if len(img.Labels) > 0 {
			b, err := json.Marshal(img.Labels)
			if err != nil {
				return fmt.Errorf("encode labels of manifest %s: %w", m.Digest, err)
			}
			labels = string(b)
		}
	}
	var body any
	if m.Body != nil {
		// Text, not a blob: json_extract reads a blob as JSONB and fails.
		body = string(m.Body)
	}
	var schemaVersion any
	if m.SchemaVersion != 0 {
		schemaVersion = int64(m.SchemaVersion)
	}
	err := w.manifests.add(w.ctx,
		string(m.Digest), m.MediaType, string(m.Kind), schemaVersion, textOrNull(m.ArtifactType),
		digestOrNull(m.Config), digestOrNull(m.Subject), m.Size, imageTotalSize(m),
		created, osName, arch, vari, labels, body)
	if err != nil {
		return err
	}
	if w.graph != nil {
		w.graphManifest(m)
	}
	for _, r := range m.References {
		var pOS, pArch, pVariant any
		if p := r.Platform; p != nil {
			pOS, pArch, pVariant = textOrNull(p.OS), textOrNull(p.Architecture), textOrNull(p.Variant)
		}
		err := w.refs.add(w.ctx,
			string(m.Digest), string(r.Kind), int64(r.Position), string(r.Digest),
			textOrNull(r.MediaType), r.Size, textOrNull(r.ArtifactType), pOS, pArch, pVariant)
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) Problem(p walker.Problem) error {
	var repoID any
	if p.Repo != "" {
		repoID = w.repo(p.Repo).id
	}
	return w.problems.add(w.ctx, string(p.Kind), repoID, p.Path, digestOrNull(p.Digest), p.Message)
}

// graphRepo is the index in the graph of the named repository's row.
func (w *writer) graphRepo(name string) int32 {
	return int32(w.repo(name).id - w.firstID)
}

// graphManifest adds manifest m and the references the garbage collector
// follows to the graph, as loadGraph would read them.
func (w *writer) graphManifest(m walker.Manifest) {
	b := w.graph
	created := int64(noTime)
	if m.Image != nil {
		created = unixOrNoTime(m.Image.Created)
	}
	b.manifest(string(m.Digest), created, string(m.Subject))
	for _, r := range m.References {
		switch r.Kind {
		case walker.RefConfig, walker.RefLayer, walker.RefChild:
			b.spans.add(b.g, string(m.Digest), string(r.Kind), string(r.Digest), int32(r.Position))
		}
	}
}

// graphOf completes the graph of a full build once finish has run: the
// repositories' listed flags are final only then.
func (w *writer) graphOf() *graph {
	for _, r := range w.order {
		w.graph.g.repos[r.id-w.firstID].listed = r.listed
	}
	return w.graph.finish()
}

// finish writes what is still buffered and the repositories, then computes
// what needs every row in place: total sizes and the problems that only a
// join can see.
func (w *writer) finish(tx *sql.Tx) error {
	if err := w.flush(); err != nil {
		return err
	}
	repos := newBatch(tx, "repos", []string{"id", "name", "listed", "has_layers", "has_uploads"}, "")
	for _, r := range w.order {
		if err := repos.add(w.ctx, r.id, r.name, r.listed, r.hasLayers, r.hasUpload); err != nil {
			return err
		}
	}
	if err := repos.flush(w.ctx); err != nil {
		return err
	}
	if err := repos.close(); err != nil {
		return fmt.Errorf("close insert into repos: %w", err)
	}
	if err := computeTotalSizes(w.ctx, tx); err != nil {
		return err
	}
	return recordTagsWithoutRevision(w.ctx, tx)
}

// flush writes the rows still buffered.
func (w *writer) flush() error {
	for _, b := range w.all {
		if err := b.flush(w.ctx); err != nil {
			return err
		}
	}
	return nil
}

// close releases the prepared statements.
func (w *writer) close() error {
	var errs []error
	for _, b := range w.all {
		errs = append(errs, b.close())
	}
	return errors.Join(errs...)
}

// imageTotalSize is an image's body plus the declared sizes of its distinct
// config and layers: a layer listed twice is stored once. Any other kind
// counts its body; finish adds an index's children once all are loaded.
func imageTotalSize(m walker.Manifest) int64 {
	total := m.Size
	if m.Kind != walker.KindImage {
		return total
	}
	seen := make(map[digest.Digest]bool, len(m.References))
	for _, r := range m.References {
		if (r.Kind == walker.RefConfig || r.Kind == walker.RefLayer) && !seen[r.Digest] {
			seen[r.Digest] = true
			total += r.Size
		}
	}
	return total
}

// maxIndexDepth bounds the passes over nested indexes (an index of indexes
// of images is depth 2). Real registries nest one or two levels; digests
// make a cycle impossible, the bound makes it harmless.
const maxIndexDepth = 16

// computeTotalSizes completes manifests.total_size for indexes: body plus
// the total_size of its distinct children that are in manifests (a child
// that no revision links is not there, and its bytes are unknown). Images
// got theirs when written. Each pass settles one more level of nesting.
func computeTotalSizes(ctx context.Context, tx *sql.Tx) error {
	const indexes = `
UPDATE manifests SET total_size = manifests.size + s.bytes
  FROM (SELECT d.manifest_digest, sum(c.total_size) AS bytes
          FROM (SELECT DISTINCT manifest_digest, digest FROM refs WHERE kind = 'child') d
          JOIN manifests c ON c.digest = d.digest
         GROUP BY d.manifest_digest) s
 WHERE s.manifest_digest = manifests.digest AND manifests.kind = 'index'
   AND manifests.total_size <> manifests.size + s.bytes`
	for pass := range maxIndexDepth {
		res, err := tx.ExecContext(ctx, indexes)
		if err != nil {
			return fmt.Errorf("compute total sizes of indexes: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("compute total sizes of indexes: %w", err)
		}
		if n == 0 {
			break
		}
		// Another pass changes something only when an index holds an
		// index; most registries have none, and the pass that would
		// find nothing to change costs as much as the first (0.3 s on
		// the large bench tree).
		if pass == 0 {
			var nested bool
			err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM manifests m
				JOIN refs r ON r.digest = m.digest AND r.kind = 'child' WHERE m.kind = 'index')`).Scan(&nested)
			if err != nil {
				return fmt.Errorf("compute total sizes of indexes: %w", err)
			}
			if !nested {
				break
			}
		}
	}
	return nil
}

// recordTagsWithoutRevision adds a tag_without_revision problem for every
// tag whose digest is not a revision of its repository. The walker streams
// and cannot see that join, so the index records it after the load, unless
// the walker already did for the same link.
func recordTagsWithoutRevision(ctx context.Context, tx *sql.Tx) error {
	_, err := recordTagsWithoutRevisionIn(ctx, tx, "")
	return err
}

// recordTagsWithoutRevisionIn is recordTagsWithoutRevision for the tags
// whose t.repo_id meets the SQL condition repos ("IN (...)"), or every tag
// when repos is empty. It returns how many it recorded.
func recordTagsWithoutRevisionIn(ctx context.Context, tx *sql.Tx, repos string) (int64, error) {
	if repos != "" {
		repos = "AND t.repo_id " + repos
	}
	q := `
INSERT INTO problems (kind, repo_id, path, digest, message)
SELECT 'tag_without_revision', c.repo_id, c.path, c.digest, c.message
  FROM (SELECT t.repo_id, t.digest,
               'repositories/' || r.name || '/_manifests/tags/' || t.name || '/current/link' AS path,
               'tag ' || r.name || ':' || t.name || ' names ' || t.digest ||
               ', which is not a revision of the repository: a pull of the tag fails' ||
               ' with MANIFEST_UNKNOWN and GC keeps nothing for it' AS message
          FROM tags t
          JOIN repos r ON r.id = t.repo_id
         WHERE NOT EXISTS (SELECT 1 FROM revisions v
                            WHERE v.repo_id = t.repo_id AND v.digest = t.digest) ` + repos + `) c
 WHERE NOT EXISTS (SELECT 1 FROM problems x
                    WHERE x.kind = 'tag_without_revision' AND x.path = c.path)`
	res, err := tx.ExecContext(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("record tags without revision: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("record tags without revision: %w", err)
	}
	return n, nil
}

// unixOrNull stores a time as unix seconds, and a zero time as NULL: 0 would
// read as 1970 and make any age test pick the row.
// unixOrNoTime is unixOrNull for the graph.
func unixOrNoTime(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.Unix()
}

func unixOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

func textOrNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func digestOrNull(d digest.Digest) any {
	return textOrNull(string(d))
}
