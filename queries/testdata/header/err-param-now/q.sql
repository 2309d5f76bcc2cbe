-- name: q
-- param: now = 0
SELECT :now;
