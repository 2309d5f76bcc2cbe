-- name: commented
-- description: free comments follow a blank line

-- This comment explains the SQL: it may say anything, even "note: this".
-- :ignored in a comment is not a parameter.
SELECT ':neither' AS "in :a string", 1 /* nor :this */;
