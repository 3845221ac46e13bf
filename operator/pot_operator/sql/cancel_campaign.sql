-- A deleted Campaign: its row 'cancelled' (the workers claim only 'running' campaigns) and its open
-- jobs 'cancelled' (a claimed job is no longer 'claimed', so no worker marks it 'sending'). Jobs
-- already being sent finish. $1 namespace, $2 name, $3 uid (a row of another object is left alone).
-- Returns the jobs cancelled.
WITH c AS (
    UPDATE campaigns SET state = 'cancelled', updated_at = now()
    WHERE namespace = $1 AND name = $2 AND (uid IS NULL OR uid = $3)
      AND state NOT IN ('completed', 'failed')
    RETURNING id
), jobs AS (
    UPDATE send_jobs j
    SET state = 'cancelled', claimed_by = NULL, lease_until = NULL, updated_at = now()
    FROM c
    WHERE j.campaign_id = c.id AND j.state IN ('queued', 'deferred', 'claimed')
    RETURNING 1
)
SELECT count(*) FROM jobs;
