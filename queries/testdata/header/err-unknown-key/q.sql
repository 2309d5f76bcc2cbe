-- name: q
-- descripton: a typo
SELECT 1;
