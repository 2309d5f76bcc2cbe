-- name: q
-- param: older-than = 90d
SELECT 1;
