-- A list imported with potctl: stage it like a CSV.
INSERT INTO recipient_staging (address, variables)
SELECT address, variables FROM recipients WHERE tenant = $1 AND list_name = $2;
