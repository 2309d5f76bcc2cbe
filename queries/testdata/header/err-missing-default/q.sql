-- name: q
-- param: keep =
SELECT :keep;
