-- One row per delivery attempt: what operators read when asking "what happened to message X?".
-- Append-only in practice; rows are never updated.
CREATE TABLE delivery_attempts (
    id           BIGSERIAL PRIMARY KEY,
    message_id   TEXT        NOT NULL,
    integration  TEXT        NOT NULL,
    message_type TEXT        NOT NULL,
    tenant       TEXT,
    attempt      INTEGER     NOT NULL CHECK (attempt >= 0),
    -- succeeded | retried | parked | duplicate; left unconstrained so the runtime can add an
    -- outcome without a schema migration.
    outcome      TEXT        NOT NULL,
    error_class  TEXT,
    error_code   TEXT,
    provider_ref TEXT,
    duration_ms  BIGINT      NOT NULL CHECK (duration_ms >= 0),
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The only lookup: all attempts of one message, oldest first.
CREATE INDEX delivery_attempts_message_id_idx ON delivery_attempts (message_id, recorded_at);
