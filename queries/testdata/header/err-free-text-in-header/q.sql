-- name: q
-- This report lists things.
SELECT 1;
