-- Who did what to how many: every admin action (replay, purge, key changes).
CREATE TABLE audit_log (
    id     BIGSERIAL   PRIMARY KEY,
    at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor  TEXT        NOT NULL,
    action TEXT        NOT NULL,
    target JSONB       NOT NULL DEFAULT '{}',
    count  BIGINT      NOT NULL DEFAULT 0
);

CREATE INDEX audit_log_at_idx ON audit_log (at DESC);

-- An audit log that can be edited proves nothing: refuse UPDATE and DELETE outright.
-- (Retention, if ever needed, is an operator decision made by dropping this trigger.)
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP;
END;
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
