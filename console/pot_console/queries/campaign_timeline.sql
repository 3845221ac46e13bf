-- A campaign's delivery outcomes per time bucket, for the Campaign page's chart (pot_console.history).
-- $1 namespace, $2 name, $3 bucket width in seconds. Reads delivery_events by its (campaign_id, at) index.
SELECT extract(epoch FROM to_timestamp(floor(extract(epoch FROM e.at) / $3) * $3)) AS bucket,
       e.outcome,
       count(*) AS n
FROM delivery_events e
JOIN campaigns c ON c.id = e.campaign_id
WHERE c.namespace = $1 AND c.name = $2
  AND e.outcome IN ('sent', 'deferred', 'bounced', 'replied')
GROUP BY 1, 2
ORDER BY 1
