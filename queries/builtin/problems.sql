-- name: problems
-- description: Anomalies the index met in the storage, with what each kind means for pulls and for the registry's GC
-- param: kind regex = .*             only problems whose kind matches, e.g. ^(bad_link|manifest_schema1)$
-- kind: report

SELECT p.kind,
       r.name AS repo,
       p.path,
       p.digest,
       p.message,
       CASE p.kind
         WHEN 'bad_link' THEN 'the registry cannot read this link; its GC aborts on it'
         WHEN 'dangling_link' THEN 'names a blob that does not exist: pulls through it fail'
         WHEN 'missing_blob' THEN 'the revision''s manifest blob is gone: pulls fail, GC skips the revision'
         WHEN 'missing_link' THEN 'a link directory without its link file: the registry ignores it'
         WHEN 'manifest_invalid' THEN 'not a readable manifest: pulls fail and the registry''s GC aborts'
         WHEN 'manifest_schema1' THEN 'schemaVersion 1: registry v3 cannot serve it and its GC aborts'
         WHEN 'manifest_unknown' THEN 'a media type the registry does not serve: its GC aborts'
         WHEN 'config_invalid' THEN 'the image config is missing or unreadable: pulls of the image fail'
         WHEN 'revision_alias' THEN 'the link''s path and content name different digests'
         WHEN 'non_sha256' THEN 'a non-sha256 reference: the registry''s GC deletes the sha256-stored blob'
         WHEN 'stray_file' THEN 'a file where only link or data belong, e.g. left by a crash'
         WHEN 'layers_only_repo' THEN 'not a repository to the registry: GC deletes the blobs only it links'
         WHEN 'invalid_repo_name' THEN 'the registry cannot address this repository'
         WHEN 'bad_blob_path' THEN 'not a blob to the registry'
         WHEN 'bad_upload' THEN 'no readable startedat: the registry never purges this upload'
         WHEN 'unreadable' THEN 'could not be read: the index and any GC miss what is below'
         WHEN 'symlink' THEN 'a symbolic link the registry never makes, followed: an incremental index reads the repository every time'
         WHEN 'tag_without_revision' THEN 'pulling the tag fails: its digest is not a revision of the repository'
         ELSE ''
       END AS meaning
  FROM problems p
  LEFT JOIN repos r ON r.id = p.repo_id
 WHERE p.kind REGEXP :kind
 ORDER BY p.kind, r.name, p.path;
