-- At most one side effect per (integration, key). A worker claims the key with a lease before
-- calling the provider and marks it succeeded afterwards; a lease that runs out means the
-- claimer died, and the next claimer takes the key over.
CREATE TABLE idempotency_keys (
    integration  TEXT        NOT NULL,
    key          TEXT        NOT NULL,
    message_id   TEXT        NOT NULL,
    state        TEXT        NOT NULL CHECK (state IN ('in_progress', 'succeeded')),
    lease_until  TIMESTAMPTZ NOT NULL,
    provider_ref TEXT,
    -- Random per claim, so a claimer can tell from the row it got back whether it won the race.
    claim_token  UUID        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (integration, key)
);
