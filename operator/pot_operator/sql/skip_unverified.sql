-- Before the send jobs are made: staged recipients the verification found invalid (or, with $2 = true,
-- risky or unknown) leave the staging, except those suppression leaves out anyway (counted there, not
-- twice). Tenant $1's results are the ones its run just wrote or reused; $3 is the campaign.
-- Returns how many distinct addresses were skipped as invalid and as risky.
WITH verdicts AS (
    SELECT lower(s.address) AS address, r.verdict
    FROM recipient_staging s
    JOIN verification_results r ON r.tenant = $1 AND r.address = lower(s.address)
    WHERE (r.verdict = 'invalid' OR ($2 AND r.verdict IN ('risky', 'unknown')))
      AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.tenant = $1 AND x.address = lower(s.address))
      AND NOT EXISTS (SELECT 1 FROM suppression_list_entries l JOIN campaigns c ON c.id = $3
                      WHERE l.tenant = $1 AND l.list_name = ANY(c.suppression_lists)
                        AND l.address = lower(s.address))
), gone AS (
    DELETE FROM recipient_staging s USING verdicts d WHERE lower(s.address) = d.address
    RETURNING 1
)
SELECT count(DISTINCT address) FILTER (WHERE verdict = 'invalid') AS invalid,
       count(DISTINCT address) FILTER (WHERE verdict <> 'invalid') AS risky,
       (SELECT count(*) FROM gone) AS rows
FROM verdicts;
