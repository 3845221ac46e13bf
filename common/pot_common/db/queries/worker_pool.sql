-- The worker's pool and its settings. $1 namespace, $2 name.
SELECT id, domain_hourly_limit, window_start, window_end, time_zone, window_days, paused
FROM pools
WHERE namespace = $1 AND name = $2
