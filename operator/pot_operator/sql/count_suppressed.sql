-- How many staged addresses the tenant suppresses (shown in status as `suppressed`).
SELECT count(DISTINCT lower(s.address)) FROM recipient_staging s
WHERE EXISTS (SELECT 1 FROM suppressions x WHERE x.tenant = $1 AND x.address = lower(s.address));
