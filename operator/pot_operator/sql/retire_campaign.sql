-- Before projecting a Campaign: a row of an earlier object of the same name (another uid: its
-- deletion was missed) steps aside as '<name>#<uid>' with its open jobs cancelled, so the new object
-- starts fresh; a row written before rows carried uids adopts this one. $1 namespace, $2 name, $3 uid.
WITH old AS (
    UPDATE campaigns
    SET name = name || '#' || uid,
        state = CASE WHEN state IN ('completed', 'failed') THEN state ELSE 'cancelled' END,
        updated_at = now()
    WHERE namespace = $1 AND name = $2 AND uid IS NOT NULL AND uid <> $3
    RETURNING id
), cancelled AS (
    UPDATE send_jobs j
    SET state = 'cancelled', claimed_by = NULL, lease_until = NULL, updated_at = now()
    FROM old
    WHERE j.campaign_id = old.id AND j.state IN ('queued', 'deferred', 'claimed')
)
UPDATE campaigns SET uid = $3 WHERE namespace = $1 AND name = $2 AND uid IS NULL;
