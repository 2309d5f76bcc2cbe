-- name: old-tags
-- description: Tags pushed more than :older_than ago, keeping the newest :keep per repository
-- param: keep = 10            number of newest tags kept per repository
-- param: older_than = 90d     age; accepts 30d, 12h, 2w, or seconds
-- param: protect regex = ^latest$   tags never proposed
-- kind: candidates

SELECT :keep, :older_than, :protect, :now;
