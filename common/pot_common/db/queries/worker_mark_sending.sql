-- Record, before any DATA, that these jobs are about to be sent: from here a lost lease means
-- 'unknown', never a resend. Only rows still claimed by this worker change; the worker sends only the
-- ids returned. Idempotent, so a worker that lost the commit acknowledgement can run it again: a row
-- already 'sending' with this attempt's message id is returned again.
-- $1 worker id, $2 now, $3 lease until, $4 ids, $5 mailbox ids, $6 message ids, $7 attempts (incl. this one).
UPDATE send_jobs j
SET state       = 'sending',
    mailbox_id  = u.mailbox_id,
    message_id  = u.message_id,
    reserved_at = $2,
    attempts    = u.attempts,
    lease_until = $3,
    updated_at  = $2
FROM unnest($4::bigint[], $5::bigint[], $6::text[], $7::integer[]) AS u (id, mailbox_id, message_id, attempts)
WHERE j.id = u.id
  AND j.claimed_by = $1
  AND (j.state = 'claimed' OR (j.state = 'sending' AND j.message_id = u.message_id))
RETURNING j.id
