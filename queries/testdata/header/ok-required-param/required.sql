-- name: required
-- description: a parameter without a default must be given
-- param: pattern regex        tags to match
-- param: repo                 repository name
SELECT * FROM tags WHERE name REGEXP :pattern AND :repo = :repo;
