-- One batch of the retention sweeper (pot_operator.retention.sweep_jobs): up to $2 send jobs of retired
-- campaigns. Retired: the row is final (completed, failed, cancelled), it last changed before $1, it is
-- in the served namespaces ($6; empty: all), and no existing Campaign object ($3 namespaces, $4 names,
-- $5 uids, listed by the operator) is it: a Campaign still there has its status counted from its jobs.
-- A row without a uid (written before rows carried one) is the object of its name. Jobs still in a
-- worker's hands ('claimed', 'sending') stay. Returns how many went.
WITH live AS (
    SELECT * FROM unnest($3::text[], $4::text[], $5::text[]) AS l(namespace, name, uid)
), retired AS (
    SELECT c.id
    FROM campaigns c
    WHERE c.state IN ('completed', 'failed', 'cancelled')
      AND c.updated_at < $1
      AND (cardinality($6::text[]) = 0 OR c.namespace = ANY($6::text[]))
      AND NOT EXISTS (SELECT 1 FROM live l
                      WHERE l.namespace = c.namespace AND l.name = c.name
                        AND (c.uid IS NULL OR c.uid = l.uid))
), batch AS (
    SELECT j.id
    FROM send_jobs j
    JOIN retired r ON r.id = j.campaign_id
    WHERE j.state NOT IN ('claimed', 'sending')
    LIMIT $2
    FOR UPDATE OF j SKIP LOCKED
), gone AS (
    DELETE FROM send_jobs s USING batch WHERE s.id = batch.id
    RETURNING 1
)
SELECT count(*) FROM gone;
