-- name: q
-- param: _hidden = 1
SELECT :_hidden;
