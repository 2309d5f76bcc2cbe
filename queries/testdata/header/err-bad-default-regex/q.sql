-- name: q
-- param: protect regex = ^(latest
SELECT :protect;
