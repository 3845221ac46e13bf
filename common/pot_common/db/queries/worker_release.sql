-- SIGTERM: hand back every job this worker claimed but did not start sending. $1 worker id, $2 now.
UPDATE send_jobs
SET state       = CASE WHEN attempts = 0 THEN 'queued'::job_state ELSE 'deferred'::job_state END,
    claimed_by  = NULL,
    lease_until = NULL,
    updated_at  = $2
WHERE claimed_by = $1 AND state = 'claimed'
