-- The queue's lag: sends due now (queued or deferred) and how long the oldest has waited. Uses send_jobs_due_at.
SELECT count(*) AS due, extract(epoch FROM now() - min(next_attempt_at)) AS lag
FROM send_jobs
WHERE state IN ('queued', 'deferred') AND next_attempt_at <= now()
