-- Every status a delivery has had, for "what happened to message X". Written by a trigger, so
-- every path that moves a delivery (worker, status callback, parking, dead-letter replay)
-- leaves its trace without each remembering to.
CREATE TABLE delivery_events (
    id           BIGSERIAL   PRIMARY KEY,
    integration  TEXT        NOT NULL,
    message_id   TEXT        NOT NULL,
    status       TEXT        NOT NULL,
    provider_ref TEXT,
    error_code   TEXT,
    at           TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX delivery_events_message_idx ON delivery_events (message_id, id);

CREATE FUNCTION record_delivery_event() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT'
       OR NEW.status IS DISTINCT FROM OLD.status
       OR NEW.provider_ref IS DISTINCT FROM OLD.provider_ref THEN
        INSERT INTO delivery_events (integration, message_id, status, provider_ref, error_code)
        VALUES (NEW.integration, NEW.message_id, NEW.status, NEW.provider_ref, NEW.error_code);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER deliveries_record_event
    AFTER INSERT OR UPDATE ON deliveries
    FOR EACH ROW EXECUTE FUNCTION record_delivery_event();
