-- name: q
-- description: nothing else

