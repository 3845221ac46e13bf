-- A pool's whole backlog, what its workers scale from: jobs of its running campaigns that are claimed
-- or being sent, or queued or deferred and due within $2 seconds. A momentary count of due jobs alone
-- dropped to zero between claims and scaled the workers away with hundreds of jobs queued.
SELECT count(*) FROM send_jobs j JOIN campaigns c ON c.id = j.campaign_id
WHERE c.pool_id = $1 AND c.state = 'running'
  AND (j.state IN ('claimed', 'sending')
       OR (j.state IN ('queued', 'deferred') AND j.next_attempt_at <= now() + make_interval(secs => $2)));
