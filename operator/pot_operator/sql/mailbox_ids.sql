SELECT name, id, state FROM mailboxes WHERE pool_id = $1;
