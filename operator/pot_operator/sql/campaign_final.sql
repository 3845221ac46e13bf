-- An ended campaign's status counts by job state, written once (pot_operator.campaign.apply): its status
-- reads them from now on (campaign_counts.sql), so the retention sweeper may later delete its jobs.
-- Only a row that is ended in Postgres too; a second write changes nothing. $1 campaign id, $2 the
-- counts (JSON). Returns the rows written (0 or 1).
WITH written AS (
    UPDATE campaigns SET final_counts = $2::jsonb, final_at = now()
    WHERE id = $1 AND final_counts IS NULL AND state IN ('completed', 'failed')
    RETURNING 1
)
SELECT count(*) FROM written;
