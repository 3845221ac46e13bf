SELECT name, id, state, credentials_bad_version FROM mailboxes WHERE pool_id = $1;
