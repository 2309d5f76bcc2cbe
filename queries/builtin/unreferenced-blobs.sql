-- name: unreferenced-blobs
-- description: Blobs "registry garbage-collect" deletes (without --delete-untagged): in no manifest any revision of a listed repository names
-- kind: report

-- The registry's mark phase, exactly (registry/storage/garbagecollect.go):
-- every revision link of every repository the catalog lists is a root when
-- the link's blob exists; a root marks its own digest and every descriptor
-- its body holds (config and layers, or an index's children), and descends
-- into a descriptor that is itself a readable revision of the same
-- repository. subject is never followed. Every blob under blobs/ that is
-- not marked is deleted, also blobs that only _layers links of a directory
-- without _manifests name (see gc-hazards). regsql index replays the mark
-- on the index into gc_blobs (swept_default); reports_test.go checks the
-- result against the registry's own MarkAndSweep.
SELECT g.digest,
       g.size,
       g.modified_at,
       g.what,
       (SELECT group_concat(name, ' ') FROM (
            SELECT r.name FROM layer_links ll JOIN repos r ON r.id = ll.repo_id
             WHERE ll.digest = g.digest ORDER BY r.name)) AS layer_linked_in
  FROM gc_blobs g
 WHERE g.swept_default
 ORDER BY g.digest;
