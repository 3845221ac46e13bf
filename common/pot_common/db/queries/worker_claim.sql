-- Claim up to $5 due jobs of the pool's running campaigns, in one round trip.
-- $1 pool id, $2 worker id, $3 now, $4 lease until, $5 batch size, $6 campaign ids and $7 recipient
-- domains this worker saw at their cap (left in the queue rather than claimed only to be refused).
-- SKIP LOCKED lets many workers claim side by side without waiting on each other's rows. A job whose
-- address was suppressed after it was queued (for the tenant, or in a suppression list the campaign
-- names) becomes 'suppressed' (with its event) instead of claimed. Due jobs go in queue order: by due
-- time, then by id, which is the recipient list's order. Each job comes with its campaign's schedule
-- (the Campaign's spec.schedule as JSON, NULL when the row has none) so the worker can hand back a job
-- whose recipient's sending hours closed after the operator last moved it (pot_worker.planner).
WITH candidates AS (
    SELECT j.id, c.tenant, c.suppression_lists, lower(j.recipient) AS address
    FROM send_jobs j
    JOIN campaigns c ON c.id = j.campaign_id
    WHERE c.pool_id = $1
      AND c.state = 'running'
      AND j.state IN ('queued', 'deferred')
      AND j.next_attempt_at <= $3
      AND NOT (j.campaign_id = ANY($6::bigint[]))
      AND NOT (j.recipient_domain = ANY($7::text[]))
    ORDER BY j.next_attempt_at, j.id
    LIMIT $5
    FOR UPDATE OF j SKIP LOCKED
), flagged AS (
    SELECT cand.id,
           EXISTS (SELECT 1 FROM suppressions s WHERE s.tenant = cand.tenant AND s.address = cand.address)
           OR (cardinality(cand.suppression_lists) > 0 AND EXISTS (
               SELECT 1 FROM suppression_list_entries l
               WHERE l.tenant = cand.tenant AND l.list_name = ANY(cand.suppression_lists)
                 AND l.address = cand.address)) AS suppressed
    FROM candidates cand
), claimed AS (
    UPDATE send_jobs j
    SET state       = CASE WHEN f.suppressed THEN 'suppressed'::job_state ELSE 'claimed'::job_state END,
        claimed_by  = CASE WHEN f.suppressed THEN NULL ELSE $2 END,
        lease_until = CASE WHEN f.suppressed THEN NULL ELSE $4::timestamptz END,
        updated_at  = $3
    FROM flagged f
    WHERE j.id = f.id
    RETURNING j.id, j.campaign_id, j.recipient, j.recipient_domain, j.variables, j.attempts, j.state,
              j.next_attempt_at
), suppressed_events AS (
    INSERT INTO delivery_events (job_id, attempt, campaign_id, recipient, outcome, at)
    SELECT id, attempts, campaign_id, recipient, 'suppressed', $3 FROM claimed WHERE state = 'suppressed'
    ON CONFLICT DO NOTHING
)
-- The schedule by primary key per claimed job: a join here was planned as a scan of every campaign row
-- for each job, which grew with the campaigns' history (make bench-history).
SELECT cl.id, cl.campaign_id, cl.recipient, cl.recipient_domain, cl.variables::text AS variables, cl.attempts,
       cl.next_attempt_at, (SELECT c.schedule::text FROM campaigns c WHERE c.id = cl.campaign_id) AS schedule
FROM claimed cl
WHERE cl.state = 'claimed'
