-- name: q
-- param: limit size = 5XB
SELECT :limit;
