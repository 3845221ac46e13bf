-- The `timezone` cells (NULL: none) of a campaign's open jobs: a schedule with hours or days moves each
-- zone's jobs to its next opening, and a list holds few zones however many recipients.
SELECT DISTINCT variables->>'timezone' AS zone
FROM send_jobs
WHERE campaign_id = $1 AND state IN ('queued', 'deferred');
