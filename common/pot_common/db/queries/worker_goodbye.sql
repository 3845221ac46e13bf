-- A worker that stopped cleanly removes its heartbeat. $1 worker id.
DELETE FROM worker_heartbeats WHERE worker_id = $1
