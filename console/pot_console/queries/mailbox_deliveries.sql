-- A mailbox's newest delivery events for its page. $1 namespace, $2 name, $3 how many.
SELECT e.at, e.recipient, e.outcome, e.smtp_code, e.enhanced_code, e.reply
FROM delivery_events e
JOIN mailboxes m ON m.id = e.mailbox_id
WHERE m.namespace = $1 AND m.name = $2
ORDER BY e.at DESC
LIMIT $3
