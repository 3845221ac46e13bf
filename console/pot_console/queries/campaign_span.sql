-- When a campaign's first and last delivery events happened, to size the chart's buckets. $1 namespace, $2 name.
SELECT extract(epoch FROM min(e.at)) AS first, extract(epoch FROM max(e.at)) AS last
FROM delivery_events e
JOIN campaigns c ON c.id = e.campaign_id
WHERE c.namespace = $1 AND c.name = $2
