-- The `pot_worker` Postgres role: exactly the rights pot-worker's statements (queries/worker_*.sql)
-- need, nothing else. Run by the database's owner after the schema (schema.sql), and again after the
-- schema changes; every statement is idempotent and the grants are reset first, so re-running it
-- also takes back anything granted by hand. The local stack runs it at `make up`; docs/worker.md
-- ("Database role") says what a worker holding this role can still reach. The role gets no
-- password here: give it one (ALTER ROLE pot_worker PASSWORD ...) or use your own authentication.
DO $$ BEGIN
    CREATE ROLE pot_worker LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- Start from nothing; REVOKE on a table also takes back its column grants.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM pot_worker;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM pot_worker;
GRANT USAGE ON SCHEMA public TO pot_worker;

-- The catalog: the pool, its running campaigns (templates) and its mailboxes, read every refresh.
GRANT SELECT ON pools, campaigns TO pot_worker;
-- Mailboxes: read; written only to record an SMTP AUTH refusal. Never the endpoint or the
-- credentials reference, so a worker cannot point another pool's mailbox at its own server.
GRANT SELECT ON mailboxes TO pot_worker;
GRANT UPDATE (state, state_reason, updated_at, credentials_bad_version) ON mailboxes TO pot_worker;

-- The queue: claim, mark, finish, heartbeat and reap. The recipient, its variables and the campaign
-- are the operator's; the worker moves a job through its states only.
GRANT SELECT ON send_jobs TO pot_worker;
GRANT UPDATE (state, attempts, next_attempt_at, lease_until, claimed_by, mailbox_id, reserved_at,
              message_id, last_code, last_enhanced, last_reply, updated_at)
    ON send_jobs TO pot_worker;

-- Outcomes are appended, never read back or changed.
GRANT INSERT ON delivery_events TO pot_worker;
GRANT USAGE ON SEQUENCE delivery_events_id_seq TO pot_worker;

-- Suppressions: checked at every claim, added on a hard bounce; never updated or deleted, so a
-- worker cannot lift an unsubscribe.
GRANT SELECT, INSERT ON suppressions TO pot_worker;
-- Named suppression lists: checked at every claim; managed by people (potctl), never by a worker.
GRANT SELECT ON suppression_list_entries TO pot_worker;

-- Its own liveness row (the operator reads these).
GRANT SELECT, INSERT, DELETE ON worker_heartbeats TO pot_worker;
GRANT UPDATE (seen_at, in_flight) ON worker_heartbeats TO pot_worker;

-- Not granted at all: `recipients` (imported lists with their private columns).

-- pot-ingester runs with the same role (its Deployment has the worker's environment). It reads the
-- pool, its mailboxes and send jobs (granted above), appends delivery events and suppressions
-- (granted above), cancels a replying recipient's open jobs (send_jobs.state, granted above), and
-- keeps its own bookkeeping: the inbox checkpoints and the messages recorded.
GRANT SELECT, INSERT ON inbox_messages TO pot_worker;
GRANT SELECT, INSERT, UPDATE ON inbox_checkpoints TO pot_worker;
-- Its verdict on each inbox (read, or why not), nothing else of the mailbox row.
GRANT UPDATE (inbox_state, inbox_error, inbox_since) ON mailboxes TO pot_worker;

-- The checker Job (`potctl check-emails --job`, Campaign.spec.verification) runs with this role too:
-- its Job takes the workers' database Secret. It reads its run and address list, reports progress,
-- and writes the results reused across the tenant's campaigns.
GRANT SELECT ON verification_runs, verification_run_addresses TO pot_worker;
GRANT UPDATE (state, checked, reused, notice, finished_at, valid, invalid, risky, unknown, used_mode)
    ON verification_runs TO pot_worker;
GRANT SELECT, INSERT, UPDATE ON verification_results TO pot_worker;
