-- name: q
-- param: age duration = 3mo  three months
SELECT :age;
