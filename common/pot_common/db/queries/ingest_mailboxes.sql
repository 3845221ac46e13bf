-- The pool's mailboxes whose inbox the ingester reads (an IMAP host) and that are not paused (by a
-- person, or because the Mailbox was deleted): cooling and refused mailboxes are read, since their
-- bounces still count. $1 pool id.
SELECT m.id, m.namespace, m.name, m.address, m.imap_host, m.imap_port, m.imap_tls, m.credentials_ref,
       m.auth_mechanism, m.oauth_provider, m.oauth_token_url, m.updated_at,
       c.uidvalidity, c.last_uid
FROM mailboxes m
LEFT JOIN inbox_checkpoints c ON c.mailbox_id = m.id
WHERE m.pool_id = $1 AND m.imap_host IS NOT NULL AND m.state <> 'paused'
ORDER BY m.id
