-- How many staged addresses the tenant ($1) suppresses, or a suppression list named by the campaign
-- ($2) holds (shown in status as `suppressed`).
SELECT count(DISTINCT lower(s.address)) FROM recipient_staging s
WHERE EXISTS (SELECT 1 FROM suppressions x WHERE x.tenant = $1 AND x.address = lower(s.address))
   OR EXISTS (SELECT 1 FROM suppression_list_entries l JOIN campaigns c ON c.id = $2
              WHERE l.tenant = $1 AND l.list_name = ANY(c.suppression_lists) AND l.address = lower(s.address));
