-- The latest verification run a Campaign asked for ($1 tenant, $2 owner:
-- Campaign/<name>/<uid>/<generation>), its progress and, once done, its verdicts; none before the
-- operator made one.
SELECT id, mode, total, reused, checked, state, notice, finished_at, valid, invalid, risky, unknown, used_mode,
       failure
FROM verification_runs WHERE tenant = $1 AND owner = $2 ORDER BY id DESC LIMIT 1;
