-- Reservations counted since the start of the UTC day ($2) and hour ($3) for the pool ($1), rebuilt
-- into Redis after a restart. A job counts while it may have reached the server: sending, sent, unknown.
WITH counted AS (
    SELECT j.mailbox_id, j.recipient_domain, j.campaign_id, j.reserved_at
    FROM send_jobs j
    JOIN campaigns c ON c.id = j.campaign_id
    WHERE c.pool_id = $1
      AND j.state IN ('sending', 'sent', 'unknown')
      AND j.reserved_at >= $2
)
SELECT 'mailbox' AS kind, mailbox_id::text AS key,
       count(*) AS day_count, count(*) FILTER (WHERE reserved_at >= $3) AS hour_count, max(reserved_at) AS last
FROM counted WHERE mailbox_id IS NOT NULL GROUP BY mailbox_id
UNION ALL
SELECT 'domain', recipient_domain, count(*), count(*) FILTER (WHERE reserved_at >= $3), max(reserved_at)
FROM counted GROUP BY recipient_domain
UNION ALL
SELECT 'campaign', campaign_id::text, count(*), count(*) FILTER (WHERE reserved_at >= $3), max(reserved_at)
FROM counted GROUP BY campaign_id
