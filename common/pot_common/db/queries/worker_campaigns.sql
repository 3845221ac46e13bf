-- The pool's running campaigns with their templates and limits. $1 pool id.
SELECT id, tenant, subject_template, text_template, html_template, daily_limit, hourly_limit,
       unsubscribe_url, unsubscribe_mailto
FROM campaigns
WHERE pool_id = $1 AND state = 'running'
