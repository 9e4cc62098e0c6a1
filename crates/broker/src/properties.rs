//! AMQP properties and headers of Switchyard messages, in one place so the ingress, the
//! runtime's retry/park paths and the tests agree on names.

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

/// Header: the attempt number of this copy (1 for the first delivery).
pub const ATTEMPT: &str = "x-switchyard-attempt";
/// Header: RFC 3339 time of the first failure.
pub const FIRST_FAILURE_AT: &str = "x-switchyard-first-failure-at";
/// Header: RFC 3339 time of the latest failure.
pub const LAST_FAILURE_AT: &str = "x-switchyard-last-failure-at";
/// Header: why the message was parked (human-readable, masked).
pub const REASON: &str = "x-switchyard-reason";
/// Header: error class (`retryable`, `rate_limited`, `permanent`).
pub const ERROR_CLASS: &str = "x-switchyard-error-class";
/// Header: bounded error code.
pub const ERROR_CODE: &str = "x-switchyard-error-code";
/// Header: the integration (worker) that parked it.
pub const WORKER: &str = "x-switchyard-worker";
/// Header: the routing key the message was originally published with.
pub const ORIGINAL_ROUTING_KEY: &str = "x-switchyard-original-routing-key";

/// Properties of a freshly published envelope: JSON, persistent, with its id and type.
pub fn for_envelope(
    message_id: &str,
    message_type: &str,
    correlation_id: Option<&str>,
) -> BasicProperties {
    let mut p = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_message_id(message_id.into())
        .with_type(message_type.into())
        .with_app_id("switchyard".into());
    if let Some(c) = correlation_id {
        p = p.with_correlation_id(c.into());
    }
    p
}

/// A string header value.
pub fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// Reads a header as text, whatever string type the publisher used.
pub fn get_text(headers: &FieldTable, name: &str) -> Option<String> {
    match headers.inner().get(&ShortString::from(name))? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// Reads a header as an unsigned integer, whatever integer type the publisher used.
pub fn get_u32(headers: &FieldTable, name: &str) -> Option<u32> {
    let value = headers.inner().get(&ShortString::from(name))?;
    let n: i64 = match value {
        AMQPValue::ShortShortInt(v) => (*v).into(),
        AMQPValue::ShortShortUInt(v) => (*v).into(),
        AMQPValue::ShortInt(v) => (*v).into(),
        AMQPValue::ShortUInt(v) => (*v).into(),
        AMQPValue::LongInt(v) => (*v).into(),
        AMQPValue::LongUInt(v) => (*v).into(),
        AMQPValue::LongLongInt(v) => *v,
        _ => return None,
    };
    u32::try_from(n).ok()
}
