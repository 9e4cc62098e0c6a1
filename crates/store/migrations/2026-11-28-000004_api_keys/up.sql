-- API keys for the HTTP ingress and the admin API. The token itself is never stored: only its
-- SHA-256 (for lookup) and a short prefix (so people can tell keys apart in listings).
CREATE TABLE api_keys (
    id           UUID        PRIMARY KEY,
    name         TEXT        NOT NULL CHECK (name <> ''),
    role         TEXT        NOT NULL CHECK (role IN ('publisher', 'admin')),
    scopes       TEXT[]      NOT NULL DEFAULT '{}',
    token_prefix TEXT        NOT NULL,
    token_sha256 TEXT        NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
