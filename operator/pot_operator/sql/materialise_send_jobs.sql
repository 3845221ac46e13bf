-- Turn the staged recipients into send jobs exactly once: suppressed addresses (tenant $2) are left
-- out, and the (campaign, recipient) key makes a re-run insert nothing. Returns rows inserted.
WITH inserted AS (
    INSERT INTO send_jobs (campaign_id, recipient, variables)
    SELECT DISTINCT ON (lower(s.address)) $1, s.address, s.variables
    FROM recipient_staging s
    WHERE NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.tenant = $2 AND x.address = lower(s.address))
    ORDER BY lower(s.address)
    ON CONFLICT (campaign_id, recipient) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM inserted;
