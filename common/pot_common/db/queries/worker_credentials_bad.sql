-- AUTH was refused: stop every worker using this mailbox until the operator sees new credentials.
-- $1 mailbox id, $2 reason (never the secret), $3 now, $4 the KV version of the refused secret (NULL:
-- unknown); the operator clears the state once Vault holds another version.
UPDATE mailboxes
SET state = 'credentials_bad', state_reason = $2, updated_at = $3, credentials_bad_version = $4
WHERE id = $1 AND state <> 'credentials_bad'
