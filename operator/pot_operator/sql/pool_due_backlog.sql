-- Jobs a pool's workers could claim now: due, queued or deferred, of its running campaigns.
SELECT count(*) FROM send_jobs j JOIN campaigns c ON c.id = j.campaign_id
WHERE c.pool_id = $1 AND c.state = 'running' AND j.state IN ('queued', 'deferred') AND j.next_attempt_at <= now();
