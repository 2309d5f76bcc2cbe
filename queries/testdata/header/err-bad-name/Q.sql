-- name: Q
SELECT 1;
