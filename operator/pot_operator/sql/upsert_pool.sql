-- Project a pool's limits, window and pause state for its workers; returns the pool's id.
-- The no-op update keeps RETURNING working when nothing changed without rewriting the row.
INSERT INTO pools (namespace, name, domain_hourly_limit, window_start, window_end, time_zone, window_days, paused)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (namespace, name) DO UPDATE SET
    domain_hourly_limit = EXCLUDED.domain_hourly_limit,
    window_start = EXCLUDED.window_start,
    window_end = EXCLUDED.window_end,
    time_zone = EXCLUDED.time_zone,
    window_days = EXCLUDED.window_days,
    paused = EXCLUDED.paused,
    updated_at = now()
WHERE (pools.domain_hourly_limit, pools.window_start, pools.window_end, pools.time_zone, pools.window_days,
       pools.paused)
      IS DISTINCT FROM
      (EXCLUDED.domain_hourly_limit, EXCLUDED.window_start, EXCLUDED.window_end, EXCLUDED.time_zone,
       EXCLUDED.window_days, EXCLUDED.paused);
