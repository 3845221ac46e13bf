-- Project effective limits of many mailboxes at once (one round trip per pool scan). Rows whose
-- values are unchanged are not rewritten. The caller keeps a worker-set 'credentials_bad' state;
-- once it clears that state, the refused secret's version goes too, and while it lasts the worker's
-- reason stays.
INSERT INTO mailboxes (pool_id, namespace, name, address, display_name, smtp_host, smtp_port, smtp_tls,
                       credentials_ref, daily_cap, hourly_cap, min_spacing_seconds, state, state_reason,
                       cooldown_until, signature, imap_host, imap_port, imap_tls, auth_mechanism,
                       oauth_provider, oauth_token_url)
SELECT $1, $2, m.name, m.address, m.display_name, m.smtp_host, m.smtp_port, m.smtp_tls, m.credentials_ref,
       m.daily_cap, m.hourly_cap, m.min_spacing_seconds, m.state, m.state_reason, m.cooldown_until,
       m.signature, m.imap_host, m.imap_port, m.imap_tls, m.auth_mechanism, m.oauth_provider, m.oauth_token_url
FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[], $9::text[], $10::int[],
            $11::int[], $12::int[], $13::text[], $14::text[], $15::timestamptz[],
            $16::text[], $17::text[], $18::int[], $19::text[], $20::text[], $21::text[], $22::text[])
     AS m(name, address, display_name, smtp_host, smtp_port, smtp_tls, credentials_ref, daily_cap, hourly_cap,
          min_spacing_seconds, state, state_reason, cooldown_until, signature, imap_host, imap_port, imap_tls,
          auth_mechanism, oauth_provider, oauth_token_url)
ON CONFLICT (namespace, name) DO UPDATE SET
    pool_id = EXCLUDED.pool_id,
    address = EXCLUDED.address,
    display_name = EXCLUDED.display_name,
    smtp_host = EXCLUDED.smtp_host,
    smtp_port = EXCLUDED.smtp_port,
    smtp_tls = EXCLUDED.smtp_tls,
    credentials_ref = EXCLUDED.credentials_ref,
    daily_cap = EXCLUDED.daily_cap,
    hourly_cap = EXCLUDED.hourly_cap,
    min_spacing_seconds = EXCLUDED.min_spacing_seconds,
    state = EXCLUDED.state,
    -- The worker's own words for a refusal (the server's reply, or invalid_grant from the token
    -- endpoint) say more than the operator's: kept while the mailbox stays credentials_bad.
    state_reason = CASE WHEN EXCLUDED.state = 'credentials_bad' AND mailboxes.state = 'credentials_bad'
                             AND mailboxes.state_reason <> ''
                        THEN mailboxes.state_reason ELSE EXCLUDED.state_reason END,
    cooldown_until = EXCLUDED.cooldown_until,
    signature = EXCLUDED.signature,
    imap_host = EXCLUDED.imap_host,
    imap_port = EXCLUDED.imap_port,
    imap_tls = EXCLUDED.imap_tls,
    auth_mechanism = EXCLUDED.auth_mechanism,
    oauth_provider = EXCLUDED.oauth_provider,
    oauth_token_url = EXCLUDED.oauth_token_url,
    credentials_bad_version = CASE WHEN EXCLUDED.state = 'credentials_bad'
                                   THEN mailboxes.credentials_bad_version END,
    updated_at = now()
WHERE (mailboxes.pool_id, mailboxes.address, mailboxes.display_name, mailboxes.smtp_host, mailboxes.smtp_port,
       mailboxes.smtp_tls, mailboxes.credentials_ref, mailboxes.daily_cap, mailboxes.hourly_cap,
       mailboxes.min_spacing_seconds, mailboxes.state, mailboxes.state_reason, mailboxes.cooldown_until,
       mailboxes.signature, mailboxes.imap_host, mailboxes.imap_port, mailboxes.imap_tls,
       mailboxes.auth_mechanism, mailboxes.oauth_provider, mailboxes.oauth_token_url)
      IS DISTINCT FROM
      (EXCLUDED.pool_id, EXCLUDED.address, EXCLUDED.display_name, EXCLUDED.smtp_host, EXCLUDED.smtp_port,
       EXCLUDED.smtp_tls, EXCLUDED.credentials_ref, EXCLUDED.daily_cap, EXCLUDED.hourly_cap,
       EXCLUDED.min_spacing_seconds, EXCLUDED.state, EXCLUDED.state_reason, EXCLUDED.cooldown_until,
       EXCLUDED.signature, EXCLUDED.imap_host, EXCLUDED.imap_port, EXCLUDED.imap_tls,
       EXCLUDED.auth_mechanism, EXCLUDED.oauth_provider, EXCLUDED.oauth_token_url)
RETURNING name, id;
