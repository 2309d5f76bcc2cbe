package walker

// Sink receives the records of a walk. The walker calls it from one
// goroutine at a time, so an implementation needs no locking. An error from
// any method stops the walk and is returned by Walk.
//
// Order guarantees: a repository is emitted before any record that names
// it; every Manifest is emitted exactly once per digest. Nothing else about
// order is promised.
type Sink interface {
	Repository(Repository) error
	Tag(Tag) error
	TagHistory(TagHistory) error
	Revision(Revision) error
	LayerLink(LayerLink) error
	Upload(Upload) error
	Blob(Blob) error
	Manifest(Manifest) error
	Problem(Problem) error
}

// Progress is a snapshot of a walk's progress, for a progress bar.
type Progress struct {
	Repos     int // repositories walked
	Manifests int // manifests read
	Blobs     int // blobs seen
	Problems  int
}

// Stats counts what a walk saw.
type Stats struct {
	Repos      int
	Tags       int
	Revisions  int
	LayerLinks int
	Uploads    int
	Blobs      int
	BlobBytes  int64
	Manifests  int
	Problems   int
	FilesRead  int // link files, manifests and configs read
}
