-- Turn the staged recipients into send jobs exactly once: addresses the tenant ($2) suppresses, or that
-- a suppression list named by the campaign ($1) holds, are left out, and the (campaign, recipient)
-- key makes a re-run insert nothing. Of rows with the same address (case-insensitively) the first
-- wins, and jobs are inserted in the list's order, so their ids (the claim's tie-break) follow it.
-- Returns rows inserted.
WITH lists AS (
    SELECT suppression_lists FROM campaigns WHERE id = $1
), firsts AS (
    SELECT DISTINCT ON (lower(s.address)) s.ord, s.address, s.variables
    FROM recipient_staging s
    WHERE NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.tenant = $2 AND x.address = lower(s.address))
      AND NOT EXISTS (SELECT 1 FROM suppression_list_entries l, lists
                      WHERE l.tenant = $2 AND l.list_name = ANY(lists.suppression_lists)
                        AND l.address = lower(s.address))
    ORDER BY lower(s.address), s.ord
), inserted AS (
    INSERT INTO send_jobs (campaign_id, recipient, variables)
    SELECT $1, f.address, f.variables FROM firsts f ORDER BY f.ord
    ON CONFLICT (campaign_id, recipient) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM inserted;
