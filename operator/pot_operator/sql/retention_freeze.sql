-- Freeze an ended campaign's feedback counts (pot_operator.retention.freeze_feedback): from now on its
-- status reads them here, not from its jobs and events, which the sweeper may then delete. Written once.
-- $1 campaign id, $2 the counts (JSON). Returns the rows written (0 or 1).
WITH written AS (
    UPDATE campaigns SET final_feedback = $2::jsonb
    WHERE id = $1 AND final_counts IS NOT NULL AND final_feedback IS NULL
    RETURNING 1
)
SELECT count(*) FROM written;
