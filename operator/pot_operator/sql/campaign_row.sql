SELECT id, state, (SELECT count(*) FROM send_jobs j WHERE j.campaign_id = c.id) AS jobs
FROM campaigns c WHERE namespace = $1 AND name = $2;
