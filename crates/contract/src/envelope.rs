//! The envelope: the one JSON shape every message has, on the wire and in the broker.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest accepted message id, idempotency key, tenant or correlation id. AMQP short strings
/// (where `message_id` is carried) hold 255 bytes; we stay well inside that.
pub const MAX_ID_LEN: usize = 200;

/// A message as other systems publish it: the AMQP body, `application/json`, persistent.
///
/// `type` is `<integration>.<action>` and doubles as the routing key; `payload` is validated
/// against the type's JSON Schema before it is accepted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Unique message id (UUID or ULID); also the AMQP `message_id`.
    pub id: String,
    /// Message type, `<integration>.<action>`; also the routing key.
    #[serde(rename = "type")]
    pub message_type: String,
    /// School / tenant id; selects provider credentials. `None` means the default tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// When the publisher says the event happened (RFC 3339).
    pub occurred_at: DateTime<Utc>,
    /// Traces a conversation across systems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The id of the message that caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    /// A side effect happens at most once per key; defaults to `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The type's body.
    pub payload: Value,
}

/// Why an envelope is not acceptable, naming the field (as a JSON pointer) so callers can fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{pointer}: {message}")]
pub struct FieldError {
    /// JSON pointer of the offending field, e.g. `/payload/to`.
    pub pointer: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error at `pointer`.
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

impl Envelope {
    /// The key a side effect is deduplicated by: `idempotency_key`, else `id`.
    pub fn idempotency_key(&self) -> &str {
        self.idempotency_key.as_deref().unwrap_or(&self.id)
    }

    /// The integration this message belongs to: the part of `type` before the first dot.
    pub fn integration(&self) -> &str {
        integration_of(&self.message_type)
    }

    /// Checks the envelope fields (not the payload; see [`crate::catalogue`]).
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        check_id("/id", Some(&self.id), &mut errors);
        check_id("/tenant", self.tenant.as_deref(), &mut errors);
        check_id(
            "/correlation_id",
            self.correlation_id.as_deref(),
            &mut errors,
        );
        check_id("/causation_id", self.causation_id.as_deref(), &mut errors);
        check_id(
            "/idempotency_key",
            self.idempotency_key.as_deref(),
            &mut errors,
        );
        if !is_valid_type(&self.message_type) {
            errors.push(FieldError::new(
                "/type",
                "must look like `<integration>.<action>` in lower case, e.g. `sms.send`",
            ));
        }
        // RFC 3339 years have four digits. chrono also reads signed and longer years, and an
        // offset can carry 0000-01-01 or 9999-12-31 across the edge in UTC; such an instant
        // would be published as `-0001-…` or `+10000-…`, which strict RFC 3339 parsers refuse.
        if !(0..=9999).contains(&self.occurred_at.year()) {
            errors.push(FieldError::new(
                "/occurred_at",
                "must be an RFC 3339 time between the years 0000 and 9999 in UTC",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The integration part of a message type (`sms` for `sms.send`).
pub fn integration_of(message_type: &str) -> &str {
    message_type.split('.').next().unwrap_or(message_type)
}

fn check_id(pointer: &str, value: Option<&str>, errors: &mut Vec<FieldError>) {
    let Some(value) = value else { return };
    if value.trim().is_empty() {
        errors.push(FieldError::new(pointer, "must not be empty"));
    } else if value.len() > MAX_ID_LEN {
        errors.push(FieldError::new(
            pointer,
            format!("must be at most {MAX_ID_LEN} bytes"),
        ));
    } else if value.chars().any(char::is_control) {
        errors.push(FieldError::new(
            pointer,
            "must not contain control characters",
        ));
    }
}

fn is_valid_type(t: &str) -> bool {
    let mut parts = t.split('.');
    let valid_part = |p: &str| {
        p.starts_with(|c: char| c.is_ascii_lowercase())
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let first = parts.next().is_some_and(valid_part);
    let rest: Vec<&str> = parts.collect();
    first && !rest.is_empty() && rest.iter().all(|p| valid_part(p)) && t.len() <= 100
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope() -> Envelope {
        serde_json::from_value(json!({
            "id": "01J0000000000000000000000A",
            "type": "sms.send",
            "occurred_at": "2026-11-28T10:00:00Z",
            "payload": {"to": "+15551234567", "body": "hi"}
        }))
        .expect("valid envelope")
    }

    #[test]
    fn idempotency_key_defaults_to_id() {
        let mut e = envelope();
        assert_eq!(e.idempotency_key(), "01J0000000000000000000000A");
        e.idempotency_key = Some("report-card-42".into());
        assert_eq!(e.idempotency_key(), "report-card-42");
        assert_eq!(e.integration(), "sms");
    }

    #[test]
    fn check_names_each_bad_field() {
        let mut e = envelope();
        e.id = " ".into();
        e.message_type = "SMS".into();
        e.tenant = Some("x".repeat(MAX_ID_LEN + 1));
        let pointers: Vec<String> = e
            .check()
            .unwrap_err()
            .into_iter()
            .map(|f| f.pointer)
            .collect();
        assert_eq!(pointers, vec!["/id", "/tenant", "/type"]);
    }

    #[test]
    fn types_need_integration_and_action() {
        for ok in [
            "sms.send",
            "payments.refund",
            "stripe.event",
            "lms.grade_sync.v2",
        ] {
            assert!(is_valid_type(ok), "{ok}");
        }
        for bad in [
            "sms", "sms.", ".send", "Sms.send", "sms send", "sms.*", "sms.#",
        ] {
            assert!(!is_valid_type(bad), "{bad}");
        }
    }

    #[test]
    fn occurred_at_must_stay_within_rfc_3339_years() {
        // Found by the envelope_decode fuzz target: chrono accepted a signed five-digit year and
        // the envelope was re-published as `-1920-11-28T10:00:00Z`.
        for outside in [
            "-01920-11-28T10:00:00Z",
            "+10000-01-01T00:00:00Z",
            "0000-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
        ] {
            let mut e = serde_json::to_value(envelope()).unwrap();
            e["occurred_at"] = json!(outside);
            let e: Envelope = serde_json::from_value(e).expect("chrono reads it");
            let errors = e.check().expect_err(outside);
            assert_eq!(errors[0].pointer, "/occurred_at", "{outside}");
        }
        for inside in ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z"] {
            let mut e = serde_json::to_value(envelope()).unwrap();
            e["occurred_at"] = json!(inside);
            let e: Envelope = serde_json::from_value(e).expect(inside);
            assert_eq!(e.check(), Ok(()), "{inside}");
            let published = serde_json::to_value(&e).unwrap();
            assert_eq!(published["occurred_at"], inside);
        }
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_value::<Envelope>(json!({
            "id": "1", "type": "sms.send", "occurred_at": "2026-11-28T10:00:00Z",
            "payload": {}, "priority": 5
        }))
        .unwrap_err();
        assert!(err.to_string().contains("priority"), "{err}");
    }
}
