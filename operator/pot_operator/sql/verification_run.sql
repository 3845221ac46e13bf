-- The latest verification run a Campaign asked for ($1 tenant, $2 owner: Campaign/<name>/<uid>/<generation>),
-- with its verdict counts so far; none before the operator made one.
SELECT v.id, v.mode, v.total, v.reused, v.checked, v.state, v.notice, v.finished_at, v.created_at,
       count(*) FILTER (WHERE r.verdict = 'valid') AS valid,
       count(*) FILTER (WHERE r.verdict = 'invalid') AS invalid,
       count(*) FILTER (WHERE r.verdict = 'risky') AS risky,
       count(*) FILTER (WHERE r.verdict = 'unknown') AS unknown,
       max(r.mode) FILTER (WHERE r.checked_at >= v.created_at) AS used_mode
FROM (SELECT * FROM verification_runs WHERE tenant = $1 AND owner = $2 ORDER BY id DESC LIMIT 1) v
LEFT JOIN verification_run_addresses a ON a.run_id = v.id AND v.state = 'done'
LEFT JOIN verification_results r ON r.tenant = v.tenant AND r.address = lower(a.address)
GROUP BY v.id, v.mode, v.total, v.reused, v.checked, v.state, v.notice, v.finished_at, v.created_at;
