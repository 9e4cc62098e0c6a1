-- Current delivery status: one row per (integration, message_id), moved forward by workers and
-- provider status callbacks. The "never backwards" rule lives in the UPDATE statements.
CREATE TABLE deliveries (
    integration  TEXT        NOT NULL,
    message_id   TEXT        NOT NULL,
    message_type TEXT        NOT NULL,
    tenant       TEXT,
    status       TEXT        NOT NULL CHECK (status IN
        ('accepted', 'queued', 'sent', 'delivered', 'undelivered', 'failed', 'parked')),
    provider_ref TEXT,
    error_code   TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (integration, message_id)
);

-- Status callbacks identify the delivery by the provider's id (e.g. a Twilio message SID).
CREATE INDEX deliveries_provider_ref_idx ON deliveries (integration, provider_ref)
    WHERE provider_ref IS NOT NULL;
