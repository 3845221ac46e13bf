-- One batch of the retention sweeper (pot_operator.retention.sweep_jobs): up to $2 send jobs that no
-- status reads any more, in the served namespaces ($6; empty: all), of campaigns in a final state
-- (completed, failed, cancelled) that are either
-- - frozen: the campaign ended, its counts by job state and then (the retention after the end) its
--   feedback counts were written on its row, which its status reads instead of its jobs; or
-- - retired, when the Campaign objects are known ($7): the row last changed before $1 and no existing
--   Campaign object ($3 namespaces, $4 names, $5 uids, listed by the operator) is it. A row without a
--   uid (written before rows carried one) is the object of its name.
-- Jobs still in a worker's hands ('claimed', 'sending') stay. Returns how many went.
WITH live AS (
    SELECT * FROM unnest($3::text[], $4::text[], $5::text[]) AS l(namespace, name, uid)
), done AS (
    SELECT c.id
    FROM campaigns c
    WHERE c.state IN ('completed', 'failed', 'cancelled')
      AND (cardinality($6::text[]) = 0 OR c.namespace = ANY($6::text[]))
      AND (c.final_feedback IS NOT NULL
           OR ($7::boolean AND c.updated_at < $1
               AND NOT EXISTS (SELECT 1 FROM live l
                               WHERE l.namespace = c.namespace AND l.name = c.name
                                 AND (c.uid IS NULL OR c.uid = l.uid))))
), batch AS (
    SELECT j.id
    FROM send_jobs j
    JOIN done d ON d.id = j.campaign_id
    WHERE j.state NOT IN ('claimed', 'sending')
    LIMIT $2
    FOR UPDATE OF j SKIP LOCKED
), gone AS (
    DELETE FROM send_jobs s USING batch WHERE s.id = batch.id
    RETURNING 1
)
SELECT count(*) FROM gone;
