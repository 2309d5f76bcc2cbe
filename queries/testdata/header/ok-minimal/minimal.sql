-- name: minimal
SELECT 1;
