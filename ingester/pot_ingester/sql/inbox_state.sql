-- The ingester's verdict on one inbox (pot_ingester.store.Store.inbox_state): written only when it
-- differs from the row's, so a reader that restarts writes nothing for an inbox still in the same
-- state; inbox_since moves only when the state itself changes. $1 mailbox id, $2 state, $3 error.
UPDATE mailboxes
SET inbox_since = CASE WHEN inbox_state IS DISTINCT FROM $2 THEN now() ELSE inbox_since END,
    inbox_state = $2,
    inbox_error = $3
WHERE id = $1 AND (inbox_state IS DISTINCT FROM $2 OR inbox_error IS DISTINCT FROM $3)
