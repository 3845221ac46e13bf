-- POT's Postgres schema, shared by the operator (writes pools, mailboxes, campaigns, send jobs),
-- the worker (claims send jobs, writes delivery events, suppressions, heartbeats) and potctl.
-- Applied by pot_common.db.apply_schema(); every statement is idempotent so any process may apply it
-- at start-up. Documented in docs/worker.md ("Schema").
--
-- Time: every timestamp is timestamptz. Limits count in UTC calendar days and hours (the worker's
-- Redis buckets and its reconciliation use the same boundaries), so the operator's "sent today"
-- must aggregate over the UTC day too.

-- One row per MailboxPool. Written by the operator.
CREATE TABLE IF NOT EXISTS pools (
    id                      bigserial PRIMARY KEY,
    namespace               text        NOT NULL,
    name                    text        NOT NULL,
    -- Per recipient domain (e.g. gmail.com) per UTC hour, across the whole pool; NULL = no limit.
    domain_hourly_limit     integer     CHECK (domain_hourly_limit >= 0),
    -- Sending window in the pool's own time zone; start > end means it spans midnight.
    -- NULL start/end = always open. window_days are ISO weekdays (1 = Monday ... 7 = Sunday).
    window_start            time,
    window_end              time,
    time_zone               text        NOT NULL DEFAULT 'UTC',
    window_days             smallint[]  NOT NULL DEFAULT '{1,2,3,4,5,6,7}',
    paused                  boolean     NOT NULL DEFAULT false,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (namespace, name)
);

-- One row per Mailbox. Written by the operator (effective caps after warmup/cooldown); the worker only
-- flips state to 'credentials_bad' when AUTH is refused.
CREATE TABLE IF NOT EXISTS mailboxes (
    id                      bigserial PRIMARY KEY,
    pool_id                 bigint      NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    namespace               text        NOT NULL,
    name                    text        NOT NULL,
    address                 text        NOT NULL,
    display_name            text        NOT NULL DEFAULT '',
    smtp_host               text        NOT NULL,
    smtp_port               integer     NOT NULL,
    -- 'starttls' (submission, 587), 'implicit' (SMTPS, 465) or 'none' (plain; local relays and tests).
    smtp_tls                text        NOT NULL DEFAULT 'starttls' CHECK (smtp_tls IN ('starttls', 'implicit', 'none')),
    -- Where the SMTP credentials live, never the credentials themselves:
    -- 'vault:<path under the KV v2 mount>' (keys: username, password), always inside the mailbox's
    -- namespace folder ('vault:pot/<namespace>/...'), or 'secret:<namespace>/<name>'.
    -- NULL = no AUTH (a relay that trusts the worker's network).
    credentials_ref         text,
    -- Today's effective caps (after warmup and cooldown), maintained by the operator.
    daily_cap               integer     NOT NULL DEFAULT 0 CHECK (daily_cap >= 0),
    hourly_cap              integer     NOT NULL DEFAULT 0 CHECK (hourly_cap >= 0),
    min_spacing_seconds     integer     NOT NULL DEFAULT 0 CHECK (min_spacing_seconds >= 0),
    state                   text        NOT NULL DEFAULT 'active'
                                        CHECK (state IN ('active', 'paused', 'cooling', 'credentials_bad')),
    state_reason            text        NOT NULL DEFAULT '',
    cooldown_until          timestamptz,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (namespace, name)
);
CREATE INDEX IF NOT EXISTS mailboxes_pool ON mailboxes (pool_id);
-- The KV version of the Vault secret the worker used when the SMTP server refused it (NULL: not
-- known). The operator clears 'credentials_bad' once Vault holds another version, so a rotated
-- secret brings the mailbox back without an edit of its spec.
ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS credentials_bad_version integer;
-- spec.signature: `sender_signature` in the worker's templates.
ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS signature text NOT NULL DEFAULT '';

-- One row per Campaign. Written by the operator.
CREATE TABLE IF NOT EXISTS campaigns (
    id                      bigserial PRIMARY KEY,
    pool_id                 bigint      NOT NULL REFERENCES pools (id),
    namespace               text        NOT NULL,
    name                    text        NOT NULL,
    -- Suppressions are per tenant (client): one client's unsubscribe never blocks another client.
    -- The tenant is the Campaign's namespace; the operator writes nothing else here.
    tenant                  text        NOT NULL,
    -- Templates (pot_common.templates) read send_jobs.variables, template_variables, `email` and the
    -- sender's variables.
    subject_template        text        NOT NULL,
    text_template           text        NOT NULL,
    html_template           text,
    daily_limit             integer     CHECK (daily_limit >= 0),   -- per UTC day; NULL = no limit
    hourly_limit            integer     CHECK (hourly_limit >= 0),  -- per UTC hour; NULL = no limit
    unsubscribe_url         text,        -- HTTPS endpoint; the recipient's token replaces {token} or is added
    unsubscribe_mailto      text,
    state                   text        NOT NULL DEFAULT 'pending'
                                        CHECK (state IN ('pending', 'running', 'paused', 'completed', 'failed')),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (namespace, name)
);

-- The campaign's `template.variables` (a JSON object of strings; recipients' columns override them),
-- whether the unsubscribe link is RFC 8058 one-click, and the named suppression lists it honours.
ALTER TABLE campaigns ADD COLUMN IF NOT EXISTS template_variables jsonb NOT NULL DEFAULT '{}';
ALTER TABLE campaigns ADD COLUMN IF NOT EXISTS unsubscribe_one_click boolean NOT NULL DEFAULT true;
ALTER TABLE campaigns ADD COLUMN IF NOT EXISTS suppression_lists text[] NOT NULL DEFAULT '{}';
-- spec.schedule as the operator read it (JSON, NULL: none): the worker re-checks each claimed job's
-- window with it, so a job due before a window closed is never sent after it closed.
ALTER TABLE campaigns ADD COLUMN IF NOT EXISTS schedule jsonb;

-- Imported recipient lists (potctl import, or a Campaign's CSV), per tenant (namespace). The operator
-- copies a list into send_jobs only for a Campaign of the same namespace.
CREATE TABLE IF NOT EXISTS recipients (
    id                      bigserial PRIMARY KEY,
    tenant                  text        NOT NULL,
    list_name               text        NOT NULL,
    address                 text        NOT NULL,
    variables               jsonb       NOT NULL DEFAULT '{}',
    created_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, list_name, address)
);

DO $$ BEGIN
    -- queued   : due at next_attempt_at, never attempted
    -- claimed  : leased by a worker (claimed_by, lease_until), nothing sent yet
    -- sending  : the worker is about to send or sending DATA; if its lease ends in this state the
    --            server may have accepted the message, so the job becomes 'unknown', never resent
    -- deferred : a temporary failure; due again at next_attempt_at
    -- sent / bounced / failed / suppressed / unknown : final
    CREATE TYPE job_state AS ENUM
        ('queued', 'claimed', 'sending', 'sent', 'deferred', 'bounced', 'failed', 'suppressed', 'unknown');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- The queue. The operator materialises one row per (campaign, recipient) with COPY into a staging
-- table then INSERT ... ON CONFLICT DO NOTHING, so re-running never duplicates.
CREATE TABLE IF NOT EXISTS send_jobs (
    id                      bigserial PRIMARY KEY,
    campaign_id             bigint      NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    recipient               text        NOT NULL,
    recipient_domain        text        GENERATED ALWAYS AS (lower(split_part(recipient, '@', 2))) STORED,
    variables               jsonb       NOT NULL DEFAULT '{}',
    state                   job_state   NOT NULL DEFAULT 'queued',
    attempts                integer     NOT NULL DEFAULT 0,
    next_attempt_at         timestamptz NOT NULL DEFAULT now(),
    lease_until             timestamptz,
    claimed_by              text,
    mailbox_id              bigint      REFERENCES mailboxes (id),
    -- When the limits were reserved for the current attempt: the reconciliation after a Redis restart
    -- counts sending/sent/unknown jobs by this time.
    reserved_at             timestamptz,
    message_id              text,
    last_code               integer,
    last_enhanced           text,
    last_reply              text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, recipient)
);
-- The claim scans only due work; the partial index stays small however many jobs are final.
CREATE INDEX IF NOT EXISTS send_jobs_due ON send_jobs (campaign_id, next_attempt_at)
    WHERE state IN ('queued', 'deferred');
-- The claim takes the oldest due jobs across a pool's campaigns: in this order it reads one batch of
-- rows, where without it every claim sorted every due job (23 ms at 60,000, growing with the backlog).
-- Ties (a whole list is due at once) go in id order, which is the list's order, so the index holds
-- (next_attempt_at, id); one made before that, on next_attempt_at alone, is replaced once.
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'send_jobs_due_at'
               AND indexdef NOT LIKE '%(next_attempt_at, id)%') THEN
        DROP INDEX send_jobs_due_at;
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS send_jobs_due_at ON send_jobs (next_attempt_at, id)
    WHERE state IN ('queued', 'deferred');
CREATE INDEX IF NOT EXISTS send_jobs_leased ON send_jobs (lease_until)
    WHERE state IN ('claimed', 'sending');
CREATE INDEX IF NOT EXISTS send_jobs_claimed_by ON send_jobs (claimed_by)
    WHERE state IN ('claimed', 'sending');
CREATE INDEX IF NOT EXISTS send_jobs_reserved ON send_jobs (reserved_at)
    WHERE state IN ('sending', 'sent', 'unknown');

-- One row per attempt outcome, written by the worker in batches. The operator aggregates these into
-- health (bounce/complaint/deferral rates per mailbox and pool over a window).
-- outcome: sent, deferred, bounced (hard, 5.1.x), soft_bounced (5.2.2), policy (5.7.x), failed,
-- unknown (connection lost after DATA), auth_failed, suppressed, complaint (reported by feedback loops).
CREATE TABLE IF NOT EXISTS delivery_events (
    id                      bigserial PRIMARY KEY,
    job_id                  bigint      REFERENCES send_jobs (id) ON DELETE SET NULL,
    attempt                 integer     NOT NULL DEFAULT 0,
    campaign_id             bigint,
    mailbox_id              bigint,
    recipient               text        NOT NULL,
    outcome                 text        NOT NULL,
    smtp_code               integer,
    enhanced_code           text,
    reply                   text,
    at                      timestamptz NOT NULL DEFAULT now()
);
-- A batch re-sent after a lost commit acknowledgement must not count an attempt twice.
CREATE UNIQUE INDEX IF NOT EXISTS delivery_events_once ON delivery_events (job_id, attempt, outcome);
CREATE INDEX IF NOT EXISTS delivery_events_mailbox_at ON delivery_events (mailbox_id, at);
CREATE INDEX IF NOT EXISTS delivery_events_campaign_at ON delivery_events (campaign_id, at);
-- The retention sweeper (pot_operator.retention) walks events oldest first, a batch at a time.
CREATE INDEX IF NOT EXISTS delivery_events_at ON delivery_events (at);

-- Addresses never to send to again, per tenant (namespace).
CREATE TABLE IF NOT EXISTS suppressions (
    tenant                  text        NOT NULL,
    address                 text        NOT NULL,  -- stored lower-case
    reason                  text        NOT NULL CHECK (reason IN ('hard_bounce', 'complaint', 'unsubscribe', 'manual')),
    source                  text        NOT NULL DEFAULT '',
    created_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, address)
);

-- Named suppression lists per tenant (namespace), managed with `potctl suppression`: a Campaign
-- leaves out the addresses of every list named in its spec.suppressionLists, at materialisation
-- and again at each claim. Unlike `suppressions`, they bind only the campaigns that name them.
CREATE TABLE IF NOT EXISTS suppression_list_entries (
    tenant                  text        NOT NULL,
    list_name               text        NOT NULL,
    address                 text        NOT NULL,  -- stored lower-case
    source                  text        NOT NULL DEFAULT '',
    created_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, list_name, address)
);

-- Live workers. The operator may read these to see who is sending for a pool.
CREATE TABLE IF NOT EXISTS worker_heartbeats (
    worker_id               text        PRIMARY KEY,
    pool_id                 bigint      NOT NULL,
    hostname                text        NOT NULL,
    pid                     integer     NOT NULL,
    started_at              timestamptz NOT NULL,
    seen_at                 timestamptz NOT NULL,
    in_flight               integer     NOT NULL DEFAULT 0
);

-- Lifecycle, written by the operator. A deleted Campaign's row becomes 'cancelled' and its open jobs
-- 'cancelled' (never claimed again; a job already being sent finishes). Rows carry the object's uid:
-- a Campaign re-created under the same name starts fresh, the old row kept as '<name>#<uid>'.
ALTER TYPE job_state ADD VALUE IF NOT EXISTS 'cancelled';
ALTER TABLE campaigns ADD COLUMN IF NOT EXISTS uid text;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conname = 'campaigns_state_check' AND pg_get_constraintdef(oid) LIKE '%cancelled%') THEN
        ALTER TABLE campaigns DROP CONSTRAINT IF EXISTS campaigns_state_check;
        ALTER TABLE campaigns ADD CONSTRAINT campaigns_state_check
            CHECK (state IN ('pending', 'running', 'paused', 'completed', 'failed', 'cancelled'));
    END IF;
END $$;

-- The feedback loop (docs/feedback.md). Where the ingester reads each mailbox's inbox (NULL host: not
-- read), and how the worker and the ingester sign in: 'password' or 'oauth2' (XOAUTH2 with an access
-- token from oauth_token_url, refreshed from the secret's refresh token; never stored here).
ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS imap_host text;
ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS imap_port integer NOT NULL DEFAULT 993;
ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS imap_tls text NOT NULL DEFAULT 'implicit'
    CHECK (imap_tls IN ('implicit', 'starttls', 'none'));
ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS auth_mechanism text NOT NULL DEFAULT 'password'
    CHECK (auth_mechanism IN ('password', 'oauth2'));
ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS oauth_provider text;
ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS oauth_token_url text;
-- The ingester's last verdict on the inbox, written when it changes (the operator's InboxReady
-- condition says it): 'reading', 'login_refused' (the IMAP server said NO to the login),
-- 'plaintext_refused' (no TLS, and a login may not travel in clear) or 'failing' (several attempts in a
-- row failed otherwise); inbox_error the server's words, one bounded line, never the secret; NULL: not
-- read yet. The SMTP side is not touched: an inbox login refused says nothing of the submission login.
ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS inbox_state text
    CHECK (inbox_state IN ('reading', 'login_refused', 'plaintext_refused', 'failing'));
ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS inbox_error text;
ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS inbox_since timestamptz;

-- The ingester (pot_ingester, docs/feedback.md "Checkpoints"). Per mailbox, the inbox's UIDVALIDITY
-- and the highest UID whose effects are recorded; advanced in the same transaction as each message's
-- effects, so a restart resumes after the last recorded message and never records one twice.
CREATE TABLE IF NOT EXISTS inbox_checkpoints (
    mailbox_id              bigint      PRIMARY KEY REFERENCES mailboxes (id) ON DELETE CASCADE,
    uidvalidity             bigint      NOT NULL,
    last_uid                bigint      NOT NULL DEFAULT 0,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
-- Every inbox message recorded, by a key of its own (its Message-ID, else a hash of its bytes): when
-- the server renumbers the inbox (a new UIDVALIDITY) the messages read again are recognised and their
-- effects are not repeated. kind is the classifier's; job_id the send job it was linked to (NULL: a
-- stranger's message, which touches nothing).
CREATE TABLE IF NOT EXISTS inbox_messages (
    mailbox_id              bigint      NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    message_key             text        NOT NULL,
    uidvalidity             bigint      NOT NULL,
    uid                     bigint      NOT NULL,
    kind                    text        NOT NULL,
    reason                  text        NOT NULL DEFAULT '',
    job_id                  bigint      REFERENCES send_jobs (id) ON DELETE SET NULL,
    at                      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mailbox_id, message_key)
);
-- Deleting old send jobs clears their inbox messages' job_id (ON DELETE SET NULL) by this index.
CREATE INDEX IF NOT EXISTS inbox_messages_job ON inbox_messages (job_id) WHERE job_id IS NOT NULL;
-- Linking a reply or a bounce to its send job by the Message-ID it names.
CREATE INDEX IF NOT EXISTS send_jobs_message_id ON send_jobs (message_id) WHERE message_id IS NOT NULL;
-- Linking by recipient when a message names no Message-ID: this mailbox's latest job to the address.
CREATE INDEX IF NOT EXISTS send_jobs_mailbox_recipient ON send_jobs (mailbox_id, lower(recipient))
    WHERE mailbox_id IS NOT NULL;
-- A human reply stops further sends to its author in the tenant (suppression reason 'reply').
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conname = 'suppressions_reason_check' AND pg_get_constraintdef(oid) LIKE '%reply%') THEN
        ALTER TABLE suppressions DROP CONSTRAINT IF EXISTS suppressions_reason_check;
        ALTER TABLE suppressions ADD CONSTRAINT suppressions_reason_check
            CHECK (reason IN ('hard_bounce', 'complaint', 'unsubscribe', 'manual', 'reply'));
    END IF;
END $$;

-- Retention of ended campaigns (pot_operator.retention, docs/operator.md "Retention"). final_counts: a
-- Campaign's status counts by job state, written once by the operator when it has ended (Completed or
-- Failed, no job left in a worker's hands), final_at when; its status reads them from then on.
-- final_feedback: its feedback counts (unsubscribed, replied, bounced later, complained, auto-replied),
-- counted live until the retention has passed since final_at, then frozen here by the sweeper; after
-- that nothing of its status is read from send_jobs or delivery_events, and its jobs may go.
ALTER TABLE campaigns ADD COLUMN IF NOT EXISTS final_counts jsonb;
ALTER TABLE campaigns ADD COLUMN IF NOT EXISTS final_at timestamptz;
ALTER TABLE campaigns ADD COLUMN IF NOT EXISTS final_feedback jsonb;
-- The sweeper deletes inbox messages past the retention that no longer guard a send job, oldest first.
CREATE INDEX IF NOT EXISTS inbox_messages_unlinked_at ON inbox_messages (at) WHERE job_id IS NULL;
