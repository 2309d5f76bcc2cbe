-- name: q
-- param: keep = 10
-- param: keep = 5
SELECT :keep;
