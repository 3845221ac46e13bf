-- Recipient verification results (issue 15: verification as cluster Jobs); filled in by that work.
-- Applied after schema.sql by pot_common.db.apply_schema; every statement idempotent.
-- The operator (a Campaign's spec.verification) and `potctl check-emails --in-cluster` write a run and
-- its addresses; the checker Job (`potctl check-emails --job RUN`) reads them, writes one result per
-- tenant and address, and counts its progress on the run. docs/deliverability.md ("Verification in the
-- cluster") says why it is shaped so.

-- The latest verdict per tenant and address (lower-cased): reused by later runs of the same tenant
-- while younger than their maxAge; never shared between tenants.
CREATE TABLE IF NOT EXISTS verification_results (
    tenant      text        NOT NULL,
    address     text        NOT NULL,
    verdict     text        NOT NULL CHECK (verdict IN ('valid', 'invalid', 'risky', 'unknown')),
    reason      text        NOT NULL DEFAULT '',
    smtp_reply  text        NOT NULL DEFAULT '',
    mode        text        NOT NULL,
    checked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, address)
);

-- One check of a list: who asked (`owner`: Campaign/<name>/<uid>/<generation>, or potctl/<user>), how,
-- and how far the Job has got. `state`: pending (made, no Job process yet), running, done, failed.
CREATE TABLE IF NOT EXISTS verification_runs (
    id          bigserial   PRIMARY KEY,
    tenant      text        NOT NULL,
    owner       text        NOT NULL,
    mode        text        NOT NULL CHECK (mode IN ('auto', 'format+mx', 'smtp')),
    max_age     interval    NOT NULL,
    total       integer     NOT NULL DEFAULT 0,
    reused      integer     NOT NULL DEFAULT 0,
    checked     integer     NOT NULL DEFAULT 0,
    state       text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'failed')),
    notice      text        NOT NULL DEFAULT '',
    -- What the run found, written by the Job when it is done (its addresses may then be deleted):
    -- verdicts of every address of the run, reused ones included, and what `auto` became.
    valid       integer     NOT NULL DEFAULT 0,
    invalid     integer     NOT NULL DEFAULT 0,
    risky       integer     NOT NULL DEFAULT 0,
    unknown     integer     NOT NULL DEFAULT 0,
    used_mode   text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS verification_runs_owner ON verification_runs (tenant, owner);
-- Why a run failed (potctl gave up on it: its Job failed, could not be made, was interrupted or timed
-- out; or the sweep found it abandoned); a failed run's addresses are deleted.
ALTER TABLE verification_runs ADD COLUMN IF NOT EXISTS failure text NOT NULL DEFAULT '';

-- The addresses of a run as given (line: their place in the list, 1-based), one row per distinct
-- lower-cased address; the results are read back through them, and they are deleted once used (potctl
-- once it wrote the results or gave up, the operator once the send jobs exist), so they do not pile up;
-- what a caller that died left is swept (pot_deliverability.emailcheck.job.SWEEP_RUN_ADDRESSES).
CREATE TABLE IF NOT EXISTS verification_run_addresses (
    run_id      bigint      NOT NULL REFERENCES verification_runs (id) ON DELETE CASCADE,
    line        integer     NOT NULL,
    address     text        NOT NULL,
    PRIMARY KEY (run_id, line)
);
