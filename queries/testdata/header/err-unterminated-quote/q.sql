-- name: q
-- param: label = 'open
SELECT :label;
