-- +goose Up
-- schema_docs holds one line of doc for every table, view and column, so
-- that "regsql schema" and docs/schema.md explain the database from the
-- database itself. A migration that adds a column adds its doc in the same
-- file; a test fails when any column has none.

CREATE TABLE schema_docs (
    object TEXT NOT NULL,
    column TEXT NOT NULL,
    doc    TEXT NOT NULL,
    PRIMARY KEY (object, column)
);

INSERT INTO schema_docs (object, column, doc) VALUES
('repos', '', 'One row per repository directory under repositories/, including directories the registry does not list.'),
('repos', 'id', 'Key that the other tables use in repo_id.'),
('repos', 'name', 'Repository name, e.g. "org/app"; names nest ("org/app/sub" is another repository).'),
('repos', 'listed', '1 when the directory directly contains _manifests, so the registry''s catalog and GC see it; 0 for a directory with only _layers or _uploads.'),
('repos', 'has_layers', '1 when the repository has a _layers directory.'),
('repos', 'has_uploads', '1 when the repository has an _uploads directory.'),

('tags', '', 'One row per tag: the manifest its current/link names now.'),
('tags', 'repo_id', 'Repository (repos.id).'),
('tags', 'name', 'Tag name, e.g. "v1.2" or "latest".'),
('tags', 'digest', 'Digest the tag names now; pulling the tag fails unless it is also in revisions for the same repository.'),
('tags', 'pushed_at', 'When the tag was last pushed (the current/link file''s modification time), unix seconds; NULL when the storage gave no time.'),

('tag_history', '', 'One row per manifest a tag has ever named (the tag''s index/ directory); GC ignores it.'),
('tag_history', 'repo_id', 'Repository (repos.id).'),
('tag_history', 'tag', 'Tag name (tags.name).'),
('tag_history', 'digest', 'A digest the tag named at some time.'),
('tag_history', 'linked_at', 'When the tag first named this digest (the link file''s modification time), unix seconds; NULL when unknown.'),

('revisions', '', 'One row per manifest revision link: a manifest that is part of a repository and can be pulled by digest.'),
('revisions', 'repo_id', 'Repository (repos.id).'),
('revisions', 'digest', 'Manifest digest from the link''s path: what tags, index children and pulls by digest name.'),
('revisions', 'target', 'Blob digest the link file holds, where the body is read from; differs from digest only for an alias (see problems of kind revision_alias).'),
('revisions', 'linked_at', 'When the manifest was last pushed to this repository (the link file''s modification time: every push of it rewrites the link), unix seconds; NULL when unknown.'),

('manifests', '', 'One row per manifest body that some revision names, however many repositories link it.'),
('manifests', 'digest', 'Digest of the body (revisions.target).'),
('manifests', 'media_type', 'mediaType of the body, or what the registry infers when it is empty; '''' for a body that is not JSON.'),
('manifests', 'kind', 'How the registry reads it: image, index, schema1 (unreadable by registry v3), unknown (a media type it does not serve) or invalid (not JSON).'),
('manifests', 'schema_version', 'schemaVersion of the body; NULL when absent.'),
('manifests', 'artifact_type', 'artifactType of the body (OCI artifacts such as signatures and SBOMs); NULL when absent.'),
('manifests', 'config_digest', 'Digest of the config blob of an image manifest; NULL for an index.'),
('manifests', 'subject_digest', 'Digest of the manifest this one refers to (OCI referrers: signatures, SBOMs, attestations); NULL when none. GC never follows it.'),
('manifests', 'size', 'Bytes of the body itself.'),
('manifests', 'total_size', 'Body plus the declared sizes of its distinct config and layers (image), or body plus the total_size of its distinct children that are in this table (index).'),
('manifests', 'created', 'Image creation time from the config blob, unix seconds; NULL when absent or not read.'),
('manifests', 'os', 'Operating system from the config blob, e.g. "linux"; NULL when not read.'),
('manifests', 'arch', 'CPU architecture from the config blob, e.g. "amd64"; NULL when not read.'),
('manifests', 'variant', 'CPU variant from the config blob, e.g. "v8"; NULL when absent.'),
('manifests', 'labels', 'Config labels as a JSON object, e.g. json_extract(labels, ''$."org.opencontainers.image.version"''); NULL when none.'),
('manifests', 'body', 'The raw body as JSON text, for json_extract; NULL when it is not valid JSON.'),

('refs', '', 'One row per descriptor in a manifest body: an edge from a manifest to its config, a layer, an index child or its subject.'),
('refs', 'manifest_digest', 'The manifest whose body holds the descriptor (manifests.digest).'),
('refs', 'kind', 'Where in the body: config, layer (layers[]), child (manifests[] of an index) or subject.'),
('refs', 'position', 'Index in layers[] or manifests[]; 0 for config and subject.'),
('refs', 'digest', 'Digest the descriptor names.'),
('refs', 'media_type', 'mediaType of the descriptor; NULL when absent.'),
('refs', 'size', 'Size the descriptor declares, in bytes.'),
('refs', 'artifact_type', 'artifactType of the descriptor; NULL when absent.'),
('refs', 'platform_os', 'platform.os of an index child, e.g. "linux"; NULL when none.'),
('refs', 'platform_arch', 'platform.architecture of an index child, e.g. "arm64"; NULL when none.'),
('refs', 'platform_variant', 'platform.variant of an index child, e.g. "v8"; NULL when none.'),

('blobs', '', 'One row per blob file blobs/<alg>/<xx>/<hex>/data: layers, configs and manifest bodies alike.'),
('blobs', 'digest', 'Blob digest, from its path.'),
('blobs', 'size', 'Bytes on storage.'),
('blobs', 'modified_at', 'When the blob was uploaded (the data file''s modification time), unix seconds; NULL when unknown.'),

('layer_links', '', 'One row per _layers link: a blob the repository may serve (pushed or mounted into it). GC keeps no blob for a layer link alone.'),
('layer_links', 'repo_id', 'Repository (repos.id).'),
('layer_links', 'digest', 'Blob digest the link file holds.'),
('layer_links', 'linked_at', 'When the link was written (its modification time), unix seconds; NULL when unknown.'),

('uploads', '', 'One row per upload in progress or abandoned under _uploads/; the registry purges them after storage.maintenance.uploadpurging.age.'),
('uploads', 'repo_id', 'Repository (repos.id).'),
('uploads', 'uuid', 'Upload id, the directory name.'),
('uploads', 'started_at', 'When the upload started (its startedat file), unix seconds; NULL when missing or unreadable.'),
('uploads', 'size', 'Bytes received so far (the size of its data file).'),

('problems', '', 'One row per anomaly met while indexing; the walk records it and goes on.'),
('problems', 'id', 'Row number.'),
('problems', 'kind', 'Class of anomaly, e.g. dangling_link, missing_blob, manifest_invalid, tag_without_revision.'),
('problems', 'repo_id', 'Repository (repos.id); NULL when the problem is not in a repository.'),
('problems', 'path', 'Path of the file or directory, relative to docker/registry/v2.'),
('problems', 'digest', 'Digest concerned; NULL when none.'),
('problems', 'message', 'What is wrong and what the registry does about it.'),

('scans', '', 'One row per run of "regsql index" that produced this database.'),
('scans', 'id', 'Row number.'),
('scans', 'root', 'The storage that was read: --root DIR or --config FILE.'),
('scans', 'driver', 'Storage driver, e.g. filesystem or s3aws.'),
('scans', 'started_at', 'When the scan started, unix seconds.'),
('scans', 'finished_at', 'When the scan finished, unix seconds.'),
('scans', 'repos', 'Rows in repos.'),
('scans', 'tags', 'Rows in tags.'),
('scans', 'revisions', 'Rows in revisions.'),
('scans', 'manifests', 'Rows in manifests.'),
('scans', 'blobs', 'Rows in blobs.'),
('scans', 'blob_bytes', 'Sum of blobs.size.'),
('scans', 'layer_links', 'Rows in layer_links.'),
('scans', 'uploads', 'Rows in uploads.'),
('scans', 'problems', 'Rows in problems.'),
('scans', 'version', 'Version of regsql that wrote the database.'),

('tagged_manifests', '', 'Every revision a tag reaches: the tag''s current manifest, then recursively the index children that are revisions of the same repository. What GC --delete-untagged keeps.'),
('tagged_manifests', 'repo_id', 'Repository (repos.id).'),
('tagged_manifests', 'digest', 'Manifest digest (revisions.digest).'),
('tagged_manifests', 'via_tag', 'One tag that reaches it (the first by name).'),
('tagged_manifests', 'tag_count', 'How many tags of the repository reach it.'),
('tagged_manifests', 'direct', '1 when a tag names it itself, 0 when it is reached only as an index child.'),

('untagged_revisions', '', 'Every revision no tag of its repository reaches, not even as an index child.'),
('untagged_revisions', 'repo_id', 'Repository (repos.id).'),
('untagged_revisions', 'digest', 'Manifest digest (revisions.digest).'),
('untagged_revisions', 'linked_at', 'When the manifest was last pushed to this repository, unix seconds.'),
('untagged_revisions', 'gc_marked', '1 when GC --delete-untagged keeps it anyway, because a tagged manifest in any repository is this digest or references it.'),

('repo_blobs', '', 'One row per (repository, blob) its revisions use: manifest bodies, their configs and layers, and index children''s bodies.'),
('repo_blobs', 'repo_id', 'Repository (repos.id).'),
('repo_blobs', 'digest', 'Blob digest.'),
('repo_blobs', 'size', 'Bytes on storage (blobs.size); NULL when the blob is missing.'),

('blob_usage', '', 'One row per blob, with who uses it.'),
('blob_usage', 'digest', 'Blob digest.'),
('blob_usage', 'size', 'Bytes on storage.'),
('blob_usage', 'modified_at', 'When the blob was uploaded, unix seconds.'),
('blob_usage', 'is_manifest', '1 when the blob is the body of a manifest revision.'),
('blob_usage', 'manifests', 'How many manifests reference it as config, layer or index child.'),
('blob_usage', 'repos', 'How many repositories use it (repo_blobs); 0 means GC would delete it.'),
('blob_usage', 'layer_links', 'How many repositories have a _layers link to it.'),

('repo_usage', '', 'One row per repository: its tags, revisions and the bytes of the blobs it uses, each blob counted once.'),
('repo_usage', 'repo_id', 'Repository (repos.id).'),
('repo_usage', 'name', 'Repository name.'),
('repo_usage', 'tags', 'Rows in tags.'),
('repo_usage', 'revisions', 'Rows in revisions.'),
('repo_usage', 'blobs', 'Distinct blobs it uses that exist on storage.'),
('repo_usage', 'total_bytes', 'Bytes of every blob it uses.'),
('repo_usage', 'unique_bytes', 'Bytes of the blobs no other repository uses: what deleting the repository and running GC would free.'),
('repo_usage', 'shared_bytes', 'Bytes of the blobs other repositories use too.'),

('schema_docs', '', 'One line of doc per table, view and column: what "regsql schema" shows.'),
('schema_docs', 'object', 'Table or view name.'),
('schema_docs', 'column', 'Column name; '''' for the table or view itself.'),
('schema_docs', 'doc', 'What it means.');

-- +goose Down
DROP TABLE schema_docs;
