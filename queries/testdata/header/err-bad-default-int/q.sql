-- name: q
-- param: keep int = ten
SELECT :keep;
