-- The send job an inbox message is about, among THIS mailbox's jobs of campaigns in its own namespace
-- only (a message in one tenant's inbox never reaches another tenant's jobs): first by a Message-ID
-- it names ($3, the job's latest attempt's id, or $4, job ids read from POT's own Message-IDs of
-- earlier attempts), else this mailbox's latest sent job to the recipient it names ($5).
-- $1 mailbox id, $2 the mailbox's namespace.
SELECT id, recipient, tenant FROM (
    (SELECT j.id, j.recipient, c.tenant, 0 AS rank
     FROM send_jobs j
     JOIN campaigns c ON c.id = j.campaign_id
     WHERE j.mailbox_id = $1 AND c.namespace = $2
       AND (j.message_id = ANY($3::text[]) OR j.id = ANY($4::bigint[]))
     ORDER BY j.id DESC
     LIMIT 1)
    UNION ALL
    (SELECT j.id, j.recipient, c.tenant, 1 AS rank
     FROM send_jobs j
     JOIN campaigns c ON c.id = j.campaign_id
     WHERE j.mailbox_id = $1 AND c.namespace = $2 AND $5::text IS NOT NULL
       AND lower(j.recipient) = $5 AND j.state IN ('sent', 'unknown', 'sending')
     ORDER BY j.updated_at DESC, j.id DESC
     LIMIT 1)
) linked
ORDER BY rank
LIMIT 1
