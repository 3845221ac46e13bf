SELECT name, id, state, credentials_bad_version, inbox_state, inbox_error, inbox_since
FROM mailboxes WHERE pool_id = $1;
