-- Parked messages, ingested from every `<integration>.dead` queue so admins can search, group,
-- replay, edit and purge them. The payload is encrypted (AES-256-GCM, `payload` = nonce ‖
-- ciphertext) with the key named by `payload_key_id`; `payload_preview` is a masked excerpt.
CREATE TABLE dead_letters (
    id                   BIGSERIAL   PRIMARY KEY,
    -- The same parked copy may be delivered to the ingester twice (at-least-once); the key
    -- (queue + message id + parking attempt, chosen by the ingester) stores it once.
    dedupe_key           TEXT        NOT NULL UNIQUE,
    integration          TEXT        NOT NULL,
    queue                TEXT        NOT NULL,
    message_id           TEXT        NOT NULL,
    message_type         TEXT,
    tenant               TEXT,
    original_routing_key TEXT        NOT NULL,
    -- AMQP headers as JSON, including RabbitMQ's own x-death for broker-side dead-lettering.
    headers              JSONB       NOT NULL DEFAULT '{}',
    reason               TEXT        NOT NULL,
    error_class          TEXT        NOT NULL,
    error_code           TEXT        NOT NULL,
    error_normalized     TEXT        NOT NULL,
    -- Hash of (integration, error_class, error_code, error_normalized): one group per cause.
    group_id             TEXT        NOT NULL,
    attempts             INTEGER     NOT NULL CHECK (attempts >= 0),
    first_failure_at     TIMESTAMPTZ,
    last_failure_at      TIMESTAMPTZ,
    worker               TEXT,
    payload_key_id       TEXT        NOT NULL,
    -- Emptied when the record is purged, so purged data is gone, not just hidden.
    payload              BYTEA       NOT NULL,
    payload_preview      TEXT        NOT NULL,
    status               TEXT        NOT NULL DEFAULT 'parked' CHECK (status IN
        ('parked', 'replayed', 'resolved', 'purged', 'archived')),
    parked_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    replayed_at          TIMESTAMPTZ,
    resolved_at          TIMESTAMPTZ,
    -- The id of the message sent in this record's place (replay, or edit-and-replay).
    replay_message_id    TEXT,
    -- Edit-and-replay stores the diff on the original record (no second row): the original is
    -- `resolved`, `replay_message_id` names the edited message that was sent instead.
    edit_diff            JSONB,
    -- When the record was archived; retention deletes archived rows some days after this.
    archived_at          TIMESTAMPTZ
);

-- The workbench's main listing: parked records of one integration, newest first.
CREATE INDEX dead_letters_status_integration_parked_at_idx
    ON dead_letters (status, integration, parked_at DESC);
CREATE INDEX dead_letters_group_id_idx ON dead_letters (group_id);
CREATE INDEX dead_letters_message_id_idx ON dead_letters (message_id);
CREATE INDEX dead_letters_error_code_idx ON dead_letters (error_code);
