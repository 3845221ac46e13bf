-- AUTH was refused: stop every worker using this mailbox until the operator sees new credentials.
-- $1 mailbox id, $2 reason (never the secret), $3 now.
UPDATE mailboxes
SET state = 'credentials_bad', state_reason = $2, updated_at = $3
WHERE id = $1 AND state <> 'credentials_bad'
