-- One mailbox's checkpoint: the inbox's UIDVALIDITY and the highest UID recorded. $1 mailbox id.
SELECT uidvalidity, last_uid FROM inbox_checkpoints WHERE mailbox_id = $1
