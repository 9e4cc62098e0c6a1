-- Provider webhooks taken by the ingress, one row per (source, provider event id). A provider
-- that got a 2xx never sends the event again, and one that did not sends it again, so the
-- ingress claims the event here, publishes it with a confirm, then marks it published:
-- a duplicate delivery finds `published_at` set and is answered 2xx without a second publish.
-- A claim whose publish failed is deleted so the provider's retry goes through; a claim left
-- by a crashed ingress is taken over once its lease has ended.
CREATE TABLE webhook_events (
    source       TEXT        NOT NULL,
    event_id     TEXT        NOT NULL,
    -- Who holds the claim (a random id per attempt), so a late release cannot drop another's.
    holder       TEXT        NOT NULL,
    lease_until  TIMESTAMPTZ NOT NULL,
    claimed_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ,
    PRIMARY KEY (source, event_id)
);
