-- name: q
-- description:
SELECT 1;
