-- Delivery outcomes per mailbox since each mailbox's own window start (events before a resume do
-- not count again), plus what each sent since the start of the UTC day (the workers' cap day).
-- attempted = every outcome a recipient server gave; policy rejections (5.7.x) count as bounces
-- because they say the same about the sender's reputation.
SELECT w.mailbox_id,
       count(e.*) FILTER (WHERE e.outcome IN ('sent', 'deferred', 'bounced', 'soft_bounced', 'policy', 'failed'))
           AS attempted,
       count(e.*) FILTER (WHERE e.outcome IN ('bounced', 'policy')) AS bounced,
       count(e.*) FILTER (WHERE e.outcome = 'complaint') AS complained,
       count(e.*) FILTER (WHERE e.outcome = 'deferred') AS deferred,
       count(e.*) FILTER (WHERE e.outcome = 'sent') AS sent,
       (SELECT count(*) FROM delivery_events t
         WHERE t.mailbox_id = w.mailbox_id AND t.outcome = 'sent' AND t.at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
           AS sent_today
FROM unnest($1::bigint[], $2::timestamptz[]) AS w(mailbox_id, since)
LEFT JOIN delivery_events e ON e.mailbox_id = w.mailbox_id AND e.at >= w.since
GROUP BY w.mailbox_id;
