-- The pool's mailboxes whose inbox the ingester reads (an IMAP host), except those paused (by a person,
-- or because the Mailbox was deleted) and those whose credentials a server refused (the same login
-- would be refused here too, and repeated failed logins get an account locked; the operator clears the
-- state when Vault holds another version, and the next refresh reads the inbox again). Cooling
-- mailboxes are read: their bounces still count. $1 pool id.
SELECT m.id, m.namespace, m.name, m.address, m.imap_host, m.imap_port, m.imap_tls, m.credentials_ref,
       m.auth_mechanism, m.oauth_provider, m.oauth_token_url
FROM mailboxes m
WHERE m.pool_id = $1 AND m.imap_host IS NOT NULL AND m.state NOT IN ('paused', 'credentials_bad')
ORDER BY m.id
