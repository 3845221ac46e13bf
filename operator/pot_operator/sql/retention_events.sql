-- One batch of the retention sweeper (pot_operator.retention.sweep_events): up to $3 delivery_events
-- older than $1, oldest first, from $2 on (the newest `at` of the previous batch; NULL: from the start).
-- $4 the outcomes a Campaign's status counts (campaign_counts.sql): those stay while their campaign
-- still has send jobs. Rows another session holds locked are left for the next pass, never waited for.
-- Reads the (at) index; returns how many went and the newest `at` among them.
WITH batch AS (
    SELECT e.id
    FROM delivery_events e
    WHERE e.at < $1
      AND ($2::timestamptz IS NULL OR e.at >= $2)
      AND (e.outcome <> ALL($4::text[])
           OR e.campaign_id IS NULL
           OR NOT EXISTS (SELECT 1 FROM send_jobs j WHERE j.campaign_id = e.campaign_id))
    ORDER BY e.at
    LIMIT $3
    FOR UPDATE OF e SKIP LOCKED
), gone AS (
    DELETE FROM delivery_events d USING batch WHERE d.id = batch.id
    RETURNING d.at
)
SELECT count(*) AS deleted, max(at) AS newest FROM gone;
