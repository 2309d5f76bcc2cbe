// Package index owns regsql's SQLite database: it creates it from a walk of
// a registry's storage (migrations, bulk writer, atomic rename into place),
// opens it read-only for queries, and describes its schema.
//
// The table and column names are a contract that users' saved queries rely
// on; docs/schema.md documents each one (generated from the schema_docs
// table by "go test ./index -run TestSchemaDoc -update") and a test in
// migrations/ fails when a column has no doc.
//
// # Building
//
// Build writes a new file next to the destination (".<name>.tmp-<random>"),
// with the pragmas of a throwaway bulk load (no journal, no syncs), applies
// the migrations with goose, and loads the whole walk in one transaction
// with prepared multi-row INSERTs. Repositories are mapped to ids in memory;
// a record naming a repository the walker never reported creates it with
// listed = 0. After the load it computes what needs every row:
//
//   - manifests.total_size of an index: its body plus the total_size of its
//     distinct children that are in manifests, level by level for nested
//     indexes. An image's (body plus distinct config and layer descriptor
//     sizes) is computed as it is written.
//   - a tag_without_revision problem for each tag whose digest is not a
//     revision of its repository. The walker reports these as it walks; the
//     index adds any it did not (same path), so the table is complete
//     whatever fed the Sink. The tag itself stays in tags.
//   - the derived tables (migrations/00006_derived.sql): what each tag
//     reaches (tag_reach), what each revision's family alone uses
//     (revision_usage), what each repository uses (repo_usage), and the
//     registry's garbage collector replayed in both modes (gc_blobs,
//     gc_revisions, gc_unreached). derive reads the tables once into
//     compact arrays, digests as int32 ids, and computes these in Go: the
//     reports would otherwise redo them on every run, one B-tree lookup at
//     a time, in seconds.
//
// Records are kept as the storage has them: a revision whose manifest blob
// is missing stays in revisions, a tag to nowhere stays in tags; problems
// say what is wrong. A second row for the same key in a link table (an alias
// link naming a digest twice) is ignored rather than failing the build.
//
// The file is then committed and analyzed. The usage tables (what the
// registry's logs and notifications said, which storage cannot say again)
// are copied from the database being replaced, by column name (CopyUsage),
// under that database's write lock, held until the new file is synced and
// renamed over the destination. Any error, or a cancelled context, removes the temporary
// file and leaves the previous index untouched. Build refuses to replace a
// file that is not a regsql database.
//
// # Updating
//
// When the destination already holds a finished scan of the same local
// storage by this schema version (and not a verifying one), Build updates
// it instead, in one transaction of the file itself with SQLite's rollback
// journal: walker.NewRescan finds what changed since that scan started
// (less defaultChangeMargin), the rows of the repositories that changed, or
// that link a blob that came or went, are deleted and those repositories
// read again, blobs are added and removed, manifests no revision names any
// more are deleted and new ones read, and the totals of the indexes above
// them and the tag_without_revision problems of the repositories read are
// computed again, and so are the derived tables, of which only the rows
// that differ are written. The counts of the new scans row follow every row deleted
// and inserted rather than counting the tables again. A cancelled context
// rolls the transaction back; a killed process leaves a hot journal, which
// Open (and the next Build) roll back before reading. The result equals a
// full build row for row: TestIncrementalMatchesFull checks it after every
// kind of change the registry makes.
//
// # Usage
//
// UsageWriter appends pulls, blob pulls, pushes and deletes (package usage's
// events) to an index in place, one transaction a Write, keyed by request id
// so that the same request stored twice is one row. Each Write opens the file
// anew, takes its write lock (BEGIN IMMEDIATE), and checks that the path
// still names the file it opened: a build that replaced it meanwhile copied
// every committed write, and this one starts again on the new file. The
// views pulls, manifest_pulls and tag_pulls join the usage tables to the
// index at query time, so nothing needs redoing after a re-index.
//
// # Reading
//
// Open opens the file with mode=ro and PRAGMA query_only on every
// connection, through a driver of this package's own that adds regexp()
// (so "x REGEXP 'pattern'" works with Go regular expressions) and an
// authorizer refusing ATTACH. It checks goose's version table against the
// embedded migrations. Query runs one statement, binding :name parameters.
package index
