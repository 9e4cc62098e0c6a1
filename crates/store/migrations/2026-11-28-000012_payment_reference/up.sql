-- The ERP's own id of what was paid (the checkout's `reference`, e.g. `fee-2026-T1-0042`), as the
-- provider carries it: Stripe's PaymentIntent (and charge) `metadata.reference`, PayPal's capture
-- `custom_id`. NULL until an event names it. Set once: the first event that names it wins, and a
-- later event without it (a refund, a dispute) keeps it, so every ERP event carries it.
ALTER TABLE payments ADD COLUMN reference TEXT;
