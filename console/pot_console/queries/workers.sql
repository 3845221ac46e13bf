-- Workers that beat within the last $1 seconds, all workers known, and what the live ones are sending now.
SELECT count(*) FILTER (WHERE seen_at > now() - make_interval(secs => $1)) AS live,
       count(*) AS known,
       coalesce(sum(in_flight) FILTER (WHERE seen_at > now() - make_interval(secs => $1)), 0) AS in_flight
FROM worker_heartbeats
