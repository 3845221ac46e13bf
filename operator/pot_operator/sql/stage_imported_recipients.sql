-- A list imported with potctl: stage it like a CSV, in the order it was imported.
INSERT INTO recipient_staging (address, variables)
SELECT address, variables FROM recipients WHERE tenant = $1 AND list_name = $2 ORDER BY id;
