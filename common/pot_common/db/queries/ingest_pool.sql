-- The ingester's pool id. $1 namespace, $2 name.
SELECT id FROM pools WHERE namespace = $1 AND name = $2
