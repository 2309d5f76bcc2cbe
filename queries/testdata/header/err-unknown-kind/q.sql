-- name: q
-- kind: candidate
SELECT 1;
