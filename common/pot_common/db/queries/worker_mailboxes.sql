-- The pool's mailboxes with today's effective limits (the operator keeps them current). $1 pool id.
SELECT id, namespace, name, address, display_name, signature, smtp_host, smtp_port, smtp_tls, credentials_ref,
       daily_cap, hourly_cap, min_spacing_seconds, state, cooldown_until, updated_at, auth_mechanism,
       oauth_provider, oauth_token_url
FROM mailboxes
WHERE pool_id = $1
ORDER BY id
