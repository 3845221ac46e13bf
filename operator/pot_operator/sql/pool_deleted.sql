-- A deleted MailboxPool: its workers see it paused and its mailboxes paused, whatever runs still.
-- $1 namespace, $2 name. Returns the mailboxes marked.
WITH p AS (
    UPDATE pools SET paused = true, updated_at = now() WHERE namespace = $1 AND name = $2 RETURNING id
), m AS (
    UPDATE mailboxes SET state = 'paused', state_reason = 'MailboxPool deleted', updated_at = now()
    FROM p WHERE mailboxes.pool_id = p.id AND mailboxes.state <> 'paused'
    RETURNING 1
)
SELECT count(*) FROM m;
