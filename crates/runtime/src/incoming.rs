//! Reading a delivery: the attempt number and failure history from our headers, and the
//! envelope and typed job from the body.

use chrono::{DateTime, Utc};
use lapin::message::Delivery;
use lapin::types::FieldTable;
use serde::de::DeserializeOwned;
use serde_json::json;
use switchyard_broker::properties as props;
use switchyard_contract::Envelope;

/// What the runtime knows about a delivery before decoding its body.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// 1 for the first delivery; incremented by each retry republish.
    pub attempt: u32,
    /// AMQP `message_id`, if the publisher set one (used when the body cannot be decoded).
    pub message_id: Option<String>,
    /// When this message first failed, if it has.
    pub first_failure_at: Option<String>,
    /// The routing key it was first published with.
    pub original_routing_key: String,
}

impl Incoming {
    /// Reads the headers of `delivery`.
    pub fn read(delivery: &Delivery) -> Self {
        let headers = delivery.properties.headers().clone().unwrap_or_default();
        let original = props::get_text(&headers, props::ORIGINAL_ROUTING_KEY)
            .unwrap_or_else(|| delivery.routing_key.as_str().to_owned());
        Incoming {
            attempt: props::get_u32(&headers, props::ATTEMPT).unwrap_or(1).max(1),
            message_id: delivery
                .properties
                .message_id()
                .as_ref()
                .map(|m| m.as_str().to_owned()),
            first_failure_at: props::get_text(&headers, props::FIRST_FAILURE_AT),
            original_routing_key: original,
        }
    }
}

/// Why a body could not become a job. Parked with code `decode_failed`.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not a JSON envelope.
    #[error("body is not a Switchyard envelope: {0}")]
    Envelope(serde_json::Error),
    /// The envelope's own fields are invalid.
    #[error("invalid envelope: {0}")]
    Fields(String),
    /// The type or payload does not match any job of this worker.
    #[error("payload of `{message_type}` does not match this worker's jobs: {source}")]
    Job {
        /// The envelope's type.
        message_type: String,
        /// serde's explanation.
        source: serde_json::Error,
    },
}

/// Decodes the envelope and the worker's job from a body.
pub fn decode<J: DeserializeOwned>(body: &[u8]) -> Result<(Envelope, J), DecodeError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(DecodeError::Envelope)?;
    envelope.check().map_err(|errors| {
        DecodeError::Fields(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let tagged = json!({ "type": envelope.message_type, "payload": envelope.payload });
    let job = J::deserialize(tagged).map_err(|source| DecodeError::Job {
        message_type: envelope.message_type.clone(),
        source,
    })?;
    Ok((envelope, job))
}

/// Headers for a republished copy (retry or park): the original headers without the broker's
/// own bookkeeping, plus ours.
pub fn next_headers(
    original: &Option<FieldTable>,
    attempt: u32,
    first_failure_at: &str,
    routing_key: &str,
) -> FieldTable {
    let mut headers = FieldTable::default();
    if let Some(original) = original {
        for (k, v) in original.inner() {
            // x-death and x-delivery-count describe the old copy, not the new one.
            if !k.as_str().starts_with("x-death") && k.as_str() != "x-delivery-count" {
                headers.insert(k.clone(), v.clone());
            }
        }
    }
    let now: DateTime<Utc> = Utc::now();
    headers.insert(
        props::ATTEMPT.into(),
        lapin::types::AMQPValue::LongInt(attempt as i32),
    );
    headers.insert(
        props::FIRST_FAILURE_AT.into(),
        props::text(first_failure_at),
    );
    headers.insert(
        props::LAST_FAILURE_AT.into(),
        props::text(&now.to_rfc3339()),
    );
    headers.insert(props::ORIGINAL_ROUTING_KEY.into(), props::text(routing_key));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(tag = "type", content = "payload")]
    enum Job {
        #[serde(rename = "sms.send")]
        Send { to: String },
    }

    #[test]
    fn decodes_typed_jobs_and_explains_failures() {
        let ok = br#"{"id":"1","type":"sms.send","occurred_at":"2026-11-28T10:00:00Z","payload":{"to":"+1555"}}"#;
        let (envelope, job) = decode::<Job>(ok).unwrap();
        assert_eq!(envelope.id, "1");
        assert_eq!(job, Job::Send { to: "+1555".into() });

        assert!(matches!(
            decode::<Job>(b"not json"),
            Err(DecodeError::Envelope(_))
        ));
        let wrong_type =
            br#"{"id":"1","type":"sms.fax","occurred_at":"2026-11-28T10:00:00Z","payload":{}}"#;
        assert!(matches!(
            decode::<Job>(wrong_type),
            Err(DecodeError::Job { .. })
        ));
        let bad_id = br#"{"id":"","type":"sms.send","occurred_at":"2026-11-28T10:00:00Z","payload":{"to":"x"}}"#;
        assert!(matches!(decode::<Job>(bad_id), Err(DecodeError::Fields(_))));
    }

    #[test]
    fn republished_headers_drop_broker_bookkeeping() {
        let mut original = FieldTable::default();
        original.insert("x-death".into(), props::text("old"));
        original.insert(
            "x-delivery-count".into(),
            lapin::types::AMQPValue::LongInt(3),
        );
        original.insert("x-custom".into(), props::text("kept"));
        let h = next_headers(&Some(original), 2, "2026-11-28T10:00:00Z", "sms.send");
        assert!(!h.contains_key("x-death") && !h.contains_key("x-delivery-count"));
        assert_eq!(props::get_text(&h, "x-custom").as_deref(), Some("kept"));
        assert_eq!(props::get_u32(&h, props::ATTEMPT), Some(2));
        assert_eq!(
            props::get_text(&h, props::ORIGINAL_ROUTING_KEY).as_deref(),
            Some("sms.send")
        );
    }
}
