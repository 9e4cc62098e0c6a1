//! Diesel's view of the tables, written by hand to match `migrations/`.
//!
//! Keep this file and the migrations in step: the integration tests round-trip every table,
//! so a mismatch fails them.

diesel::table! {
    /// One row per delivery attempt.
    delivery_attempts (id) {
        id -> Int8,
        message_id -> Text,
        integration -> Text,
        message_type -> Text,
        tenant -> Nullable<Text>,
        attempt -> Int4,
        outcome -> Text,
        error_class -> Nullable<Text>,
        error_code -> Nullable<Text>,
        provider_ref -> Nullable<Text>,
        duration_ms -> Int8,
        recorded_at -> Timestamptz,
    }
}

diesel::table! {
    /// Current delivery status per (integration, message_id).
    deliveries (integration, message_id) {
        integration -> Text,
        message_id -> Text,
        message_type -> Text,
        tenant -> Nullable<Text>,
        status -> Text,
        provider_ref -> Nullable<Text>,
        error_code -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// Every status a delivery has had (written by a trigger on `deliveries`).
    delivery_events (id) {
        id -> Int8,
        integration -> Text,
        message_id -> Text,
        status -> Text,
        provider_ref -> Nullable<Text>,
        error_code -> Nullable<Text>,
        at -> Timestamptz,
    }
}

diesel::table! {
    /// Idempotency claims per (integration, key).
    idempotency_keys (integration, key) {
        integration -> Text,
        key -> Text,
        message_id -> Text,
        state -> Text,
        lease_until -> Timestamptz,
        provider_ref -> Nullable<Text>,
        claim_token -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// API keys, stored hashed.
    api_keys (id) {
        id -> Uuid,
        name -> Text,
        role -> Text,
        scopes -> Array<Text>,
        token_prefix -> Text,
        token_sha256 -> Text,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    /// Append-only audit log of admin actions.
    audit_log (id) {
        id -> Int8,
        at -> Timestamptz,
        actor -> Text,
        action -> Text,
        target -> Jsonb,
        count -> Int8,
    }
}

diesel::table! {
    /// Parked messages with their encrypted payloads, for the dead-letter workbench.
    dead_letters (id) {
        id -> Int8,
        dedupe_key -> Text,
        integration -> Text,
        queue -> Text,
        message_id -> Text,
        message_type -> Nullable<Text>,
        tenant -> Nullable<Text>,
        original_routing_key -> Text,
        headers -> Jsonb,
        reason -> Text,
        error_class -> Text,
        error_code -> Text,
        error_normalized -> Text,
        group_id -> Text,
        attempts -> Int4,
        first_failure_at -> Nullable<Timestamptz>,
        last_failure_at -> Nullable<Timestamptz>,
        worker -> Nullable<Text>,
        payload_key_id -> Text,
        payload -> Bytea,
        payload_preview -> Text,
        status -> Text,
        parked_at -> Timestamptz,
        replayed_at -> Nullable<Timestamptz>,
        resolved_at -> Nullable<Timestamptz>,
        replay_message_id -> Nullable<Text>,
        edit_diff -> Nullable<Jsonb>,
        archived_at -> Nullable<Timestamptz>,
    }
}
