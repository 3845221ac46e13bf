-- A deleted Mailbox sends nothing more: its row stays (its jobs and events refer to it), paused.
-- $1 namespace, $2 name.
UPDATE mailboxes SET state = 'paused', state_reason = 'Mailbox deleted', updated_at = now()
WHERE namespace = $1 AND name = $2 AND state <> 'paused';
