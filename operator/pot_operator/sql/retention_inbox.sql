-- One batch of the retention sweeper (pot_operator.retention.sweep_inbox): up to $2 inbox_messages read
-- before $1 that no longer guard a send job (job_id NULL: linked to nothing, or the job is gone).
-- A row whose job still exists stays: were its message read again (a renumbered inbox), the job is
-- what its effects would reach. Reads the partial (at) index; returns how many went.
WITH batch AS (
    SELECT mailbox_id, message_key
    FROM inbox_messages
    WHERE job_id IS NULL AND at < $1
    ORDER BY at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM inbox_messages m USING batch
    WHERE m.mailbox_id = batch.mailbox_id AND m.message_key = batch.message_key
    RETURNING 1
)
SELECT count(*) FROM gone;
