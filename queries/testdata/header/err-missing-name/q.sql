-- description: no name
SELECT 1;
