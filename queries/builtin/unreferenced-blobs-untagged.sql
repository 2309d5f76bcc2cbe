-- name: unreferenced-blobs-untagged
-- description: Blobs "registry garbage-collect --delete-untagged" deletes: in no manifest a tag reaches, through index children; untagged signatures and SBOMs included
-- kind: report

-- The registry's mark phase with --delete-untagged, exactly, defects
-- included (registry/storage/garbagecollect.go). Repositories are visited
-- in catalog order and each one's revisions in digest order. A revision is
-- a root only when some tag's current/link names it (tag history does not
-- count). A root marks its digest and every descriptor of its body, and
-- descends into a descriptor that is a readable revision of the same
-- repository, but only when that digest was not marked before: a manifest
-- first met as an index child in a repository where it is not a revision
-- is marked without its config and layers, and a later meeting in a
-- repository that has it does not mark them either (gc-hazards lists such
-- blobs). regsql index replays the mark on the index into gc_blobs
-- (swept_untagged); reports_test.go checks the result against the
-- registry's own MarkAndSweep.
SELECT g.digest,
       g.size,
       g.modified_at,
       g.what,
       (SELECT group_concat(name, ' ') FROM (
            SELECT r.name FROM layer_links ll JOIN repos r ON r.id = ll.repo_id
             WHERE ll.digest = g.digest ORDER BY r.name)) AS layer_linked_in
  FROM gc_blobs g
 WHERE g.swept_untagged
 ORDER BY g.digest;
