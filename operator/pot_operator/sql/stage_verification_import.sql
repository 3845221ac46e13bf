-- The addresses of a list imported with potctl ($2 tenant, $3 list) as run $1's, one per address
-- case-insensitively, numbered in the order they were imported.
INSERT INTO verification_run_addresses (run_id, line, address)
SELECT $1, row_number() OVER (ORDER BY min_id), address
FROM (SELECT min(id) AS min_id, min(address) AS address FROM recipients
      WHERE tenant = $2 AND list_name = $3 GROUP BY lower(address)) firsts;
