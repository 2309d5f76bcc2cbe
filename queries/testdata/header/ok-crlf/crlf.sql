-- name: crlf
-- param: n = 1   windows line ends

SELECT :n;
