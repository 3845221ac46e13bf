-- An unsubscribe through the one-click endpoint (pot_unsubscribe.store): the tenant's suppression, once.
-- $1 tenant, $2 address, $3 source ('one-click:<campaign>'). A row already there (an earlier click, a
-- bounce, a complaint) is left as it is; RETURNING says whether this request added it.
INSERT INTO suppressions (tenant, address, reason, source)
VALUES ($1, lower($2), 'unsubscribe', $3)
ON CONFLICT DO NOTHING
RETURNING true
