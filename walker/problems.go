package walker

// ProblemKind names a class of anomaly. The values are stored in the
// problems table and are part of the schema contract: never rename one.
type ProblemKind string

// The kinds of problems the walker reports.
const (
	ProblemBadLink          ProblemKind = "bad_link"             // a link file whose content is not exactly <alg>:<hex>
	ProblemDanglingLink     ProblemKind = "dangling_link"        // a tag, history or layer link naming a blob that does not exist
	ProblemMissingBlob      ProblemKind = "missing_blob"         // a revision whose manifest blob does not exist
	ProblemMissingLink      ProblemKind = "missing_link"         // a link directory without its link file
	ProblemManifestInvalid  ProblemKind = "manifest_invalid"     // a manifest body that is not valid JSON (e.g. truncated)
	ProblemManifestSchema1  ProblemKind = "manifest_schema1"     // schemaVersion 1: registry v3 cannot read it and its GC aborts
	ProblemManifestUnknown  ProblemKind = "manifest_unknown"     // a mediaType the registry does not serve
	ProblemConfigInvalid    ProblemKind = "config_invalid"       // an image config blob that is missing or not valid JSON
	ProblemRevisionAlias    ProblemKind = "revision_alias"       // a revision link whose content differs from its path digest
	ProblemNonSHA256        ProblemKind = "non_sha256"           // a reference or link by a digest that is not sha256
	ProblemStrayFile        ProblemKind = "stray_file"           // a file where only link or data belong, e.g. *.tmp after a crash
	ProblemLayersOnlyRepo   ProblemKind = "layers_only_repo"     // a directory with _layers or _uploads but no _manifests: not a repository to the registry
	ProblemInvalidRepoName  ProblemKind = "invalid_repo_name"    // a repository name the registry's reference grammar rejects
	ProblemBadBlobPath      ProblemKind = "bad_blob_path"        // a path under blobs/ that is not <alg>/<xx>/<hex>/data
	ProblemBadUpload        ProblemKind = "bad_upload"           // an upload whose startedat is missing or unparseable
	ProblemUnreadable       ProblemKind = "unreadable"           // a file or directory that could not be read (permissions, I/O)
	ProblemSymlink          ProblemKind = "symlink"              // a symbolic link where the registry keeps a revision or layer link directory
	ProblemTagWithoutTarget ProblemKind = "tag_without_revision" // a tag whose digest has no revision link in its repository
)
