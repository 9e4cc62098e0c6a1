-- Payments as the payments worker last saw them, one row per (provider, payment id): the
-- Stripe PaymentIntent (or the charge, when it has none), the PayPal capture. Provider events
-- arrive out of order, so the status only moves forward (pending < failed < succeeded <
-- partially_refunded < refunded, see `PaymentStatus::rank`), refunds only grow and `disputed`
-- is a flag that is never cleared.
CREATE TABLE payments (
    provider        TEXT        NOT NULL,
    payment_id      TEXT        NOT NULL,
    tenant          TEXT,
    status          TEXT        NOT NULL,
    -- Minor units of `currency`; NULL until an event names the payment's amount.
    amount          BIGINT,
    amount_refunded BIGINT      NOT NULL DEFAULT 0,
    currency        TEXT,
    disputed        BOOLEAN     NOT NULL DEFAULT false,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, payment_id)
);

-- Every provider event applied to `payments`, and the ERP event it caused: written in the
-- same transaction as the payment row, so an event is applied once however often it is
-- delivered. The worker publishes the ERP event and sets `published_at` after RabbitMQ's
-- confirm inside that transaction; a failed publish rolls the whole event back.
CREATE TABLE payment_events (
    provider     TEXT        NOT NULL,
    event_id     TEXT        NOT NULL,
    payment_id   TEXT,
    erp_type     TEXT,
    erp_payload  TEXT,
    applied_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ,
    PRIMARY KEY (provider, event_id)
);
