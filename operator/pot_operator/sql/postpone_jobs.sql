-- Move a campaign's ($1) open jobs due before $3 to $3: every one ($4 true), or those whose
-- `timezone` cell is $2 (NULL: no cell). Jobs already due later keep their time (a retry's backoff).
UPDATE send_jobs
SET next_attempt_at = $3
WHERE campaign_id = $1
  AND state IN ('queued', 'deferred')
  AND next_attempt_at < $3
  AND ($4 OR variables->>'timezone' IS NOT DISTINCT FROM $2::text);
