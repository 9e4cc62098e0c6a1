-- Device tokens FCM or APNs reported gone (FCM UNREGISTERED, APNs 410 / BadDeviceToken). The
-- push worker parks later sends to them as `token_invalidated` without calling the provider:
-- an uninstalled app's token never comes back, and providers frown on senders who keep trying.
CREATE TABLE invalid_push_tokens (
    platform       TEXT        NOT NULL,
    token          TEXT        NOT NULL,
    provider       TEXT        NOT NULL,
    reason         TEXT        NOT NULL,
    -- The send that found out, for "why was this token dropped?".
    message_id     TEXT        NOT NULL,
    invalidated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, token)
);
