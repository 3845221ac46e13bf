-- A campaign's jobs by state, plus unsubscribes recorded for its recipients after it started.
SELECT count(*) AS total,
       count(*) FILTER (WHERE state IN ('queued', 'claimed', 'sending')) AS queued,
       count(*) FILTER (WHERE state = 'sent') AS sent,
       count(*) FILTER (WHERE state = 'deferred') AS deferred,
       count(*) FILTER (WHERE state = 'bounced') AS bounced,
       count(*) FILTER (WHERE state IN ('failed', 'unknown')) AS failed,
       count(*) FILTER (WHERE state = 'suppressed') AS suppressed,
       min(updated_at) FILTER (WHERE state = 'sent') AS first_sent_at,
       max(updated_at) FILTER (WHERE state NOT IN ('queued', 'claimed', 'sending', 'deferred')) AS last_final_at
FROM send_jobs WHERE campaign_id = $1;
