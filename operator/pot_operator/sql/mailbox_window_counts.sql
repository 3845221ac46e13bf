-- Delivery outcomes per mailbox since each mailbox's own window start (events before a resume do
-- not count again), plus what each sent since the start of the UTC day (the workers' cap day).
-- attempted = every outcome a recipient server gave; policy rejections (5.7.x) count as bounces
-- because they say the same about the sender's reputation. A late bounce (a DSN the ingester read
-- from the mailbox's inbox, outcome 'late_bounce') is a bounce of a message already counted as
-- attempted when it was sent, so it adds to `bounced` only; a complaint ('complaint', from a feedback
-- loop or the inbox) likewise adds to `complained` only.
-- One query for all of a pool's mailboxes; only mailboxes with events come back (the others count
-- zero), so an idle pool of thousands of mailboxes returns no rows.
WITH w AS (
    SELECT * FROM unnest($1::bigint[], $2::timestamptz[]) AS w(mailbox_id, since)
), day AS (
    SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start
)
SELECT e.mailbox_id,
       count(*) FILTER (WHERE e.at >= w.since
                          AND e.outcome IN ('sent', 'deferred', 'bounced', 'soft_bounced', 'policy', 'failed'))
           AS attempted,
       count(*) FILTER (WHERE e.at >= w.since AND e.outcome IN ('bounced', 'policy', 'late_bounce')) AS bounced,
       count(*) FILTER (WHERE e.at >= w.since AND e.outcome = 'complaint') AS complained,
       count(*) FILTER (WHERE e.at >= w.since AND e.outcome = 'deferred') AS deferred,
       count(*) FILTER (WHERE e.at >= w.since AND e.outcome = 'sent') AS sent,
       count(*) FILTER (WHERE e.at >= day.start AND e.outcome = 'sent') AS sent_today
FROM w CROSS JOIN day
JOIN delivery_events e ON e.mailbox_id = w.mailbox_id AND e.at >= least(w.since, day.start)
GROUP BY e.mailbox_id;
