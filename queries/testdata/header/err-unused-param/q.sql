-- name: q
-- param: keep = 10
SELECT 1;
