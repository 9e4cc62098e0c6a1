//! AMQP headers → JSON (kept with each dead letter, including RabbitMQ's `x-death`), and the
//! parking facts read from them: ours (`x-switchyard-*`, set by the runtime) or RabbitMQ's
//! (`x-death`, when the broker itself dead-lettered the message, e.g. its delivery limit).

use chrono::{DateTime, TimeZone, Utc};
use lapin::types::{AMQPValue, FieldTable};
use serde_json::{Map, Value, json};
use switchyard_broker::properties as props;

/// Converts headers to JSON. Byte arrays become base64 strings; timestamps RFC 3339.
pub fn to_json(headers: &FieldTable) -> Value {
    Value::Object(table(headers))
}

fn table(t: &FieldTable) -> Map<String, Value> {
    t.inner()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), value(v)))
        .collect()
}

fn value(v: &AMQPValue) -> Value {
    use base64::Engine as _;
    match v {
        AMQPValue::Boolean(b) => json!(b),
        AMQPValue::ShortShortInt(n) => json!(n),
        AMQPValue::ShortShortUInt(n) => json!(n),
        AMQPValue::ShortInt(n) => json!(n),
        AMQPValue::ShortUInt(n) => json!(n),
        AMQPValue::LongInt(n) => json!(n),
        AMQPValue::LongUInt(n) => json!(n),
        AMQPValue::LongLongInt(n) => json!(n),
        AMQPValue::Float(f) => json!(f),
        AMQPValue::Double(f) => json!(f),
        AMQPValue::DecimalValue(d) => json!(format!("{d:?}")),
        AMQPValue::ShortString(s) => json!(s.as_str()),
        AMQPValue::LongString(s) => json!(String::from_utf8_lossy(s.as_bytes())),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(value).collect()),
        AMQPValue::Timestamp(t) => json!(
            Utc.timestamp_opt(*t as i64, 0)
                .single()
                .map(|d| d.to_rfc3339())
        ),
        AMQPValue::FieldTable(t) => Value::Object(table(t)),
        AMQPValue::ByteArray(b) => {
            json!(base64::engine::general_purpose::STANDARD.encode(b.as_slice()))
        }
        AMQPValue::Void => Value::Null,
    }
}

/// Why and how a message was parked.
#[derive(Clone, Debug, PartialEq)]
pub struct ParkingFacts {
    /// Human-readable reason.
    pub reason: String,
    /// Error class.
    pub error_class: String,
    /// Error code.
    pub error_code: String,
    /// Attempts made.
    pub attempts: i32,
    /// First failure.
    pub first_failure_at: Option<DateTime<Utc>>,
    /// Last failure.
    pub last_failure_at: Option<DateTime<Utc>>,
    /// Who parked it: a worker, or `rabbitmq`.
    pub worker: Option<String>,
    /// The routing key it was first published with.
    pub original_routing_key: Option<String>,
}

/// Reads the parking facts: the runtime's headers when present, else RabbitMQ's `x-death`.
pub fn parking_facts(headers: &FieldTable, json: &Value) -> ParkingFacts {
    if let Some(reason) = props::get_text(headers, props::REASON) {
        return ParkingFacts {
            reason,
            error_class: props::get_text(headers, props::ERROR_CLASS)
                .unwrap_or_else(|| "permanent".into()),
            error_code: props::get_text(headers, props::ERROR_CODE)
                .unwrap_or_else(|| "unknown".into()),
            attempts: props::get_u32(headers, "x-switchyard-attempts").map_or(1, |n| n as i32),
            first_failure_at: time(headers, props::FIRST_FAILURE_AT),
            last_failure_at: time(headers, props::LAST_FAILURE_AT),
            worker: props::get_text(headers, props::WORKER),
            original_routing_key: props::get_text(headers, props::ORIGINAL_ROUTING_KEY),
        };
    }
    broker_dead_lettered(json)
}

/// RabbitMQ's own dead-lettering: `x-death` is a list of tables with `reason`
/// (`delivery_limit`, `rejected`, `expired`, `maxlen`), `queue`, `count`, `time`.
fn broker_dead_lettered(json: &Value) -> ParkingFacts {
    let death = &json["x-death"][0];
    let why = death["reason"].as_str().unwrap_or("unknown").to_owned();
    let queue = death["queue"].as_str().unwrap_or("?");
    let count = death["count"].as_i64().unwrap_or(1);
    let at = death["time"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|d| d.with_timezone(&Utc));
    let original = death["routing-keys"][0].as_str().map(str::to_owned);
    let reason = match why.as_str() {
        "delivery_limit" => format!(
            "RabbitMQ dead-lettered it from `{queue}`: delivered too many times without an ack (x-delivery-limit); a worker likely crashes on it"
        ),
        other => format!("RabbitMQ dead-lettered it from `{queue}` ({other})"),
    };
    ParkingFacts {
        reason,
        error_class: "permanent".into(),
        error_code: why,
        attempts: i32::try_from(count).unwrap_or(i32::MAX),
        first_failure_at: at,
        last_failure_at: at,
        worker: Some("rabbitmq".into()),
        original_routing_key: original,
    }
}

fn time(headers: &FieldTable, name: &str) -> Option<DateTime<Utc>> {
    let text = props::get_text(headers, name)?;
    DateTime::parse_from_rfc3339(&text)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_headers_win() {
        let mut h = FieldTable::default();
        h.insert(props::REASON.into(), props::text("Twilio answered 400"));
        h.insert(props::ERROR_CLASS.into(), props::text("permanent"));
        h.insert(props::ERROR_CODE.into(), props::text("invalid_number"));
        h.insert("x-switchyard-attempts".into(), AMQPValue::LongInt(1));
        h.insert(
            props::LAST_FAILURE_AT.into(),
            props::text("2026-11-28T10:00:00+00:00"),
        );
        let facts = parking_facts(&h, &to_json(&h));
        assert_eq!(facts.error_code, "invalid_number");
        assert_eq!(facts.attempts, 1);
        assert!(facts.last_failure_at.is_some());
    }

    #[test]
    fn x_death_is_read_when_the_broker_parked_it() {
        let mut death = FieldTable::default();
        death.insert("reason".into(), props::text("delivery_limit"));
        death.insert("queue".into(), props::text("sms"));
        death.insert("count".into(), AMQPValue::LongLongInt(1));
        death.insert(
            "routing-keys".into(),
            AMQPValue::FieldArray(vec![props::text("sms.send")].into()),
        );
        let mut h = FieldTable::default();
        h.insert(
            "x-death".into(),
            AMQPValue::FieldArray(vec![AMQPValue::FieldTable(death)].into()),
        );
        let json = to_json(&h);
        assert_eq!(json["x-death"][0]["reason"], "delivery_limit");
        let facts = parking_facts(&h, &json);
        assert_eq!(facts.error_code, "delivery_limit");
        assert_eq!(facts.worker.as_deref(), Some("rabbitmq"));
        assert_eq!(facts.original_routing_key.as_deref(), Some("sms.send"));
        assert!(facts.reason.contains("x-delivery-limit"));
    }
}
