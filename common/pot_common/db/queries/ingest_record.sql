-- Record one inbox message and its effects in one statement, run in the same transaction as nothing
-- else, so the checkpoint moves exactly when the effects are written. A message already recorded
-- (same mailbox, same key: a replay after a restart, or a renumbered inbox) changes nothing but the
-- checkpoint. The effects touch only the linked job's tenant: its delivery event ($9 outcome, counted
-- once per job attempt), a suppression of the job's recipient ($12 reason), and for a reply ($13) the
-- recipient's open jobs in the tenant's campaigns, cancelled.
-- $1 mailbox id, $2 message key, $3 uidvalidity, $4 uid, $5 kind, $6 reason, $7 job id (or NULL),
-- $8 now, $9 outcome (or NULL), $10 enhanced status, $11 a short note, $12 suppression reason (or
-- NULL), $13 cancel the recipient's open jobs.
WITH msg AS (
    INSERT INTO inbox_messages (mailbox_id, message_key, uidvalidity, uid, kind, reason, job_id, at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (mailbox_id, message_key) DO NOTHING
    RETURNING job_id
), job AS (
    SELECT j.id, j.attempts, j.campaign_id, j.recipient, c.tenant
    FROM msg JOIN send_jobs j ON j.id = msg.job_id JOIN campaigns c ON c.id = j.campaign_id
), event AS (
    INSERT INTO delivery_events (job_id, attempt, campaign_id, mailbox_id, recipient, outcome,
                                 enhanced_code, reply, at)
    SELECT id, attempts, campaign_id, $1, recipient, $9, $10, $11, $8 FROM job WHERE $9::text IS NOT NULL
    ON CONFLICT DO NOTHING  -- no RETURNING: the role that appends events may not read them
), suppressed AS (
    INSERT INTO suppressions (tenant, address, reason, source, created_at)
    SELECT tenant, lower(recipient), $12, 'pot-ingester', $8 FROM job WHERE $12::text IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING address
), cancelled AS (
    UPDATE send_jobs s
    SET state = 'cancelled', updated_at = $8
    FROM job, campaigns c
    WHERE $13::boolean AND c.tenant = job.tenant AND s.campaign_id = c.id
      AND lower(s.recipient) = lower(job.recipient) AND s.state IN ('queued', 'deferred')
    RETURNING s.id
), checkpoint AS (
    INSERT INTO inbox_checkpoints (mailbox_id, uidvalidity, last_uid, updated_at)
    VALUES ($1, $3, $4, $8)
    ON CONFLICT (mailbox_id) DO UPDATE
    SET uidvalidity = EXCLUDED.uidvalidity,
        last_uid    = CASE WHEN inbox_checkpoints.uidvalidity = EXCLUDED.uidvalidity
                           THEN greatest(inbox_checkpoints.last_uid, EXCLUDED.last_uid)
                           ELSE EXCLUDED.last_uid END,
        updated_at  = EXCLUDED.updated_at
)
SELECT (SELECT count(*) FROM msg) AS recorded,
       (SELECT count(*) FROM suppressed) AS suppressed,
       (SELECT count(*) FROM cancelled) AS cancelled
