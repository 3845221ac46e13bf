-- The pool's running campaigns with their templates, variables and limits. $1 pool id.
SELECT id, namespace, name, tenant, subject_template, text_template, html_template, template_variables::text
       AS template_variables, daily_limit, hourly_limit, unsubscribe_url, unsubscribe_mailto, unsubscribe_one_click
FROM campaigns
WHERE pool_id = $1 AND state = 'running'
