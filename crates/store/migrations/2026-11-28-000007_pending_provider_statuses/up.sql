-- Provider status reports (e.g. Twilio status callbacks) that arrived before the delivery they
-- belong to was recorded with its provider reference: after a crash mid-send, or when the
-- callback overtakes the worker's own write. They are applied when the delivery is recorded,
-- so a callback is never lost and never needs retrying.
CREATE TABLE pending_provider_statuses (
    id           BIGSERIAL   PRIMARY KEY,
    integration  TEXT        NOT NULL,
    provider_ref TEXT        NOT NULL,
    status       TEXT        NOT NULL,
    error_code   TEXT,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX pending_provider_statuses_ref ON pending_provider_statuses (integration, provider_ref);
