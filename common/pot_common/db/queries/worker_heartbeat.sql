-- The worker's periodic housekeeping in one round trip: heartbeat, lease extension for its own jobs,
-- recovery of other workers' expired leases, and the queue lag for the metric.
-- $1 worker id, $2 pool id, $3 hostname, $4 pid, $5 started at, $6 now, $7 lease until, $8 ids this
-- worker is working on. Only those leases are extended: a claim whose reply was lost (the worker never
-- saw the rows) expires like a dead worker's.
-- An expired 'claimed' job goes back to the queue; an expired 'sending' job may have been accepted by
-- the server, so it becomes 'unknown' and is never sent again. `reaped_claimed` tells the worker that
-- a dead worker may have left limit reservations in Redis that nothing will release (see limits.py).
WITH beat AS (
    INSERT INTO worker_heartbeats (worker_id, pool_id, hostname, pid, started_at, seen_at, in_flight)
    VALUES ($1, $2, $3, $4, $5, $6, cardinality($8::bigint[]))
    ON CONFLICT (worker_id) DO UPDATE SET seen_at = EXCLUDED.seen_at, in_flight = EXCLUDED.in_flight
), extended AS (
    UPDATE send_jobs SET lease_until = $7
    WHERE id = ANY($8::bigint[]) AND claimed_by = $1 AND state IN ('claimed', 'sending')
), expired AS (
    SELECT j.id, j.state AS old_state
    FROM send_jobs j
    JOIN campaigns c ON c.id = j.campaign_id
    WHERE c.pool_id = $2
      AND j.state IN ('claimed', 'sending')
      AND j.lease_until < $6
      AND NOT (j.id = ANY($8::bigint[]))
    FOR UPDATE OF j SKIP LOCKED
), reaped AS (
    UPDATE send_jobs j
    SET state       = CASE WHEN e.old_state = 'sending' THEN 'unknown'::job_state
                           WHEN j.attempts = 0 THEN 'queued'::job_state
                           ELSE 'deferred'::job_state END,
        claimed_by  = CASE WHEN e.old_state = 'sending' THEN j.claimed_by END,
        lease_until = NULL,
        updated_at  = $6
    FROM expired e
    WHERE j.id = e.id
    RETURNING j.id, j.attempts, j.campaign_id, j.mailbox_id, j.recipient, e.old_state
), unknown_events AS (
    INSERT INTO delivery_events (job_id, attempt, campaign_id, mailbox_id, recipient, outcome, reply, at)
    SELECT id, attempts, campaign_id, mailbox_id, recipient, 'unknown', 'lease expired while sending', $6
    FROM reaped WHERE old_state = 'sending'
    ON CONFLICT DO NOTHING
)
SELECT
    (SELECT count(*) FROM reaped) AS reaped,
    (SELECT count(*) FROM reaped WHERE old_state = 'claimed') AS reaped_claimed,
    (SELECT extract(epoch FROM $6 - min(j.next_attempt_at))
     FROM send_jobs j JOIN campaigns c ON c.id = j.campaign_id
     WHERE c.pool_id = $2 AND c.state = 'running'
       AND j.state IN ('queued', 'deferred') AND j.next_attempt_at <= $6) AS queue_lag_seconds
