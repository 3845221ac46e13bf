-- The operator's own bookkeeping, next to the shared schema (pot_common.db). It holds what status
-- cannot yet carry (the CRD status has no field for it) but must survive a restart: how many warmup
-- days a mailbox was held, when its last cooldown ended, when a pool was auto-paused and why.
-- Idempotent; applied by pot_operator.db at start-up.
CREATE TABLE IF NOT EXISTS operator_object_state (
    kind        text        NOT NULL,
    namespace   text        NOT NULL,
    name        text        NOT NULL,
    data        jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, namespace, name)
);
