-- Write a batch of results in one round trip: each job's new state, its delivery event and any
-- suppression. Idempotent (explicit attempts, ON CONFLICT), so the worker may resend a batch whose
-- commit acknowledgement it lost. A job the reaper turned 'unknown' while this worker was still sending
-- gets its real result. $1 worker id, $2 now, then one array per column.
WITH r AS (
    SELECT *
    FROM unnest($3::bigint[], $4::text[], $5::integer[], $6::timestamptz[], $7::integer[], $8::text[],
                $9::text[], $10::text[], $11::bigint[])
         AS r (id, state, attempts, next_attempt_at, code, enhanced, reply, outcome, mailbox_id)
), updated AS (
    UPDATE send_jobs j
    SET state           = r.state::job_state,
        attempts        = r.attempts,
        next_attempt_at = coalesce(r.next_attempt_at, j.next_attempt_at),
        claimed_by      = NULL,
        lease_until     = NULL,
        last_code       = coalesce(r.code, j.last_code),
        last_enhanced   = coalesce(r.enhanced, j.last_enhanced),
        last_reply      = coalesce(r.reply, j.last_reply),
        updated_at      = $2
    FROM r
    WHERE j.id = r.id AND j.claimed_by = $1 AND j.state IN ('claimed', 'sending', 'unknown')
    RETURNING j.id
), events AS (
    INSERT INTO delivery_events (job_id, attempt, campaign_id, mailbox_id, recipient, outcome, smtp_code,
                                 enhanced_code, reply, at)
    SELECT r.id, r.attempts, j.campaign_id, r.mailbox_id, j.recipient, r.outcome, r.code, r.enhanced, r.reply, $2
    FROM r JOIN send_jobs j ON j.id = r.id
    WHERE r.outcome IS NOT NULL
    ON CONFLICT DO NOTHING
), suppressed AS (
    INSERT INTO suppressions (tenant, address, reason, source, created_at)
    SELECT DISTINCT c.tenant, lower(j.recipient), 'hard_bounce', 'pot-worker', $2
    FROM r JOIN send_jobs j ON j.id = r.id JOIN campaigns c ON c.id = j.campaign_id
    WHERE r.outcome = 'bounced'
    ON CONFLICT DO NOTHING
)
SELECT count(*) AS updated FROM updated
