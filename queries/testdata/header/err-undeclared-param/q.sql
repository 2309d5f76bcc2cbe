-- name: q
-- param: keep = 10

SELECT *
  FROM tags
 WHERE pushed_at < :now - :older_than
 LIMIT :keep;
