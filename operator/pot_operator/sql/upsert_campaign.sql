-- Project a campaign for the workers. Its tenant is its namespace; a row written before that rule
-- (a tenant named in the spec) is brought back to it here, so suppression follows the namespace.
-- A cancelled row (its object is being deleted) is never brought back by a scan still under way.
INSERT INTO campaigns (pool_id, namespace, name, tenant, subject_template, text_template, html_template,
                       daily_limit, hourly_limit, unsubscribe_url, unsubscribe_mailto, state,
                       template_variables, unsubscribe_one_click, suppression_lists, schedule)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14, $15::text[], $16::jsonb)
ON CONFLICT (namespace, name) DO UPDATE SET
    tenant = EXCLUDED.tenant,
    subject_template = EXCLUDED.subject_template,
    text_template = EXCLUDED.text_template,
    html_template = EXCLUDED.html_template,
    daily_limit = EXCLUDED.daily_limit,
    hourly_limit = EXCLUDED.hourly_limit,
    unsubscribe_url = EXCLUDED.unsubscribe_url,
    unsubscribe_mailto = EXCLUDED.unsubscribe_mailto,
    state = EXCLUDED.state,
    template_variables = EXCLUDED.template_variables,
    unsubscribe_one_click = EXCLUDED.unsubscribe_one_click,
    suppression_lists = EXCLUDED.suppression_lists,
    schedule = EXCLUDED.schedule,
    updated_at = now()
WHERE campaigns.state <> 'cancelled'
  AND (campaigns.tenant, campaigns.subject_template, campaigns.text_template, campaigns.html_template,
       campaigns.daily_limit, campaigns.hourly_limit, campaigns.unsubscribe_url, campaigns.unsubscribe_mailto,
       campaigns.state, campaigns.template_variables, campaigns.unsubscribe_one_click, campaigns.suppression_lists,
       campaigns.schedule)
      IS DISTINCT FROM
      (EXCLUDED.tenant, EXCLUDED.subject_template, EXCLUDED.text_template, EXCLUDED.html_template,
       EXCLUDED.daily_limit, EXCLUDED.hourly_limit, EXCLUDED.unsubscribe_url, EXCLUDED.unsubscribe_mailto,
       EXCLUDED.state, EXCLUDED.template_variables, EXCLUDED.unsubscribe_one_click, EXCLUDED.suppression_lists,
       EXCLUDED.schedule);
