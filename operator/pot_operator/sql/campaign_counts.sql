-- A campaign's jobs by state, plus unsubscribes recorded for its recipients after it started, plus what
-- the pool's ingester read in the sending mailboxes' inboxes (recipients, each counted once), plus
-- what was frozen on its row once it ended (final_counts, final_feedback: pot_operator.db merges them
-- over the live columns, which are gone with the jobs and events the retention sweeper deletes). One
-- statement, so the row and the jobs are read from one snapshot.
WITH feedback AS (
    SELECT count(DISTINCT lower(recipient)) FILTER (WHERE outcome = 'reply') AS replied,
           count(DISTINCT lower(recipient)) FILTER (WHERE outcome = 'late_bounce') AS bounced_later,
           count(DISTINCT lower(recipient)) FILTER (WHERE outcome = 'complaint') AS complained,
           count(DISTINCT lower(recipient)) FILTER (WHERE outcome = 'auto_reply') AS auto_replied
    FROM delivery_events
    WHERE campaign_id = $1 AND outcome IN ('reply', 'late_bounce', 'complaint', 'auto_reply')
)
SELECT count(*) AS total,
       count(*) FILTER (WHERE state IN ('queued', 'claimed', 'sending')) AS queued,
       count(*) FILTER (WHERE state = 'sent') AS sent,
       count(*) FILTER (WHERE state = 'deferred') AS deferred,
       count(*) FILTER (WHERE state = 'bounced') AS bounced,
       count(*) FILTER (WHERE state = 'failed') AS failed,
       -- Lost while sending: maybe delivered, never resent; not `failed`, so nobody mistakes it for
       -- a recipient who was never mailed.
       count(*) FILTER (WHERE state = 'unknown') AS unknown,
       count(*) FILTER (WHERE state = 'suppressed') AS suppressed,
       -- Still in a worker's hands: an ended campaign's counts are final only once this is 0.
       count(*) FILTER (WHERE state IN ('claimed', 'sending')) AS in_flight,
       min(updated_at) FILTER (WHERE state = 'sent') AS first_sent_at,
       -- When the next open job is due (a schedule's closed hours or the start put it later).
       min(next_attempt_at) FILTER (WHERE state IN ('queued', 'deferred')) AS next_due_at,
       -- What the campaign's caps have counted, as the worker counts them: reservations of jobs that
       -- may have reached the server, since the start of the UTC day and hour.
       count(*) FILTER (WHERE state IN ('sending', 'sent', 'unknown')
                          AND reserved_at >= date_trunc('day', now(), 'UTC')) AS sent_today,
       count(*) FILTER (WHERE state IN ('sending', 'sent', 'unknown')
                          AND reserved_at >= date_trunc('hour', now(), 'UTC')) AS sent_this_hour,
       max(updated_at) FILTER (WHERE state NOT IN ('queued', 'claimed', 'sending', 'deferred')) AS last_final_at,
       -- Recipients who unsubscribed (potctl feedback / suppression add) after this campaign's message
       -- was sent to them; a sent job's updated_at is when its result was written.
       (SELECT count(*)
        FROM send_jobs j
        JOIN campaigns c ON c.id = j.campaign_id
        JOIN suppressions s ON s.tenant = c.tenant AND s.address = lower(j.recipient)
        WHERE j.campaign_id = $1 AND j.state = 'sent' AND s.reason = 'unsubscribe'
          AND s.created_at >= j.updated_at) AS unsubscribed,
       (SELECT replied FROM feedback) AS replied,
       (SELECT bounced_later FROM feedback) AS bounced_later,
       (SELECT complained FROM feedback) AS complained,
       (SELECT auto_replied FROM feedback) AS auto_replied,
       (SELECT final_counts FROM campaigns WHERE id = $1) AS final_counts,
       (SELECT final_feedback FROM campaigns WHERE id = $1) AS final_feedback
FROM send_jobs WHERE campaign_id = $1;
