-- name: q
-- kind: report
-- kind: candidates
SELECT 1;
