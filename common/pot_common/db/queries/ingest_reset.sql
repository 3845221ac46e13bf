-- The inbox was renumbered (another UIDVALIDITY): start it again from UID 0 under the new value; the
-- messages read again are recognised by their key in inbox_messages. $1 mailbox id, $2 uidvalidity, $3 now.
INSERT INTO inbox_checkpoints (mailbox_id, uidvalidity, last_uid, updated_at)
VALUES ($1, $2, 0, $3)
ON CONFLICT (mailbox_id) DO UPDATE SET uidvalidity = EXCLUDED.uidvalidity, last_uid = 0, updated_at = EXCLUDED.updated_at
