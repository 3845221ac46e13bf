UPDATE campaigns SET state = $2, updated_at = now() WHERE id = $1 AND state IS DISTINCT FROM $2;
