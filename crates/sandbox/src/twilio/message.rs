//! The Twilio Message resource the sandbox creates and returns, field for field as the real
//! API serialises it (strings where Twilio uses strings, `null` where Twilio sends null).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::validate::MessageRequest;

/// Twilio's API version, in paths, resources and callbacks.
pub(crate) const API_VERSION: &str = "2010-04-01";

/// A message the sandbox accepted.
#[derive(Clone, Debug)]
pub(crate) struct Message {
    pub(crate) sid: String,
    pub(crate) account_sid: String,
    pub(crate) request: MessageRequest,
    pub(crate) created: DateTime<Utc>,
}

impl Message {
    /// Accepts `request` for `account_sid` now, under a fresh SID.
    pub(crate) fn accept(account_sid: &str, request: MessageRequest) -> Self {
        Self {
            sid: new_sid(),
            account_sid: account_sid.to_owned(),
            request,
            created: Utc::now(),
        }
    }

    /// The resource's own path.
    fn uri(&self, suffix: &str) -> String {
        let (account, sid) = (&self.account_sid, &self.sid);
        format!("/{API_VERSION}/Accounts/{account}/Messages/{sid}{suffix}")
    }

    /// The JSON Twilio answers a create with (status `queued`: nothing is sent yet).
    pub(crate) fn to_json(&self) -> Value {
        let request = &self.request;
        // Twilio dates are RFC 2822, e.g. "Thu, 30 Jul 2015 20:12:31 +0000".
        let date = self.created.to_rfc2822();
        json!({
            "sid": self.sid,
            "account_sid": self.account_sid,
            "to": request.to,
            "from": request.from,
            "messaging_service_sid": request.messaging_service_sid,
            "body": request.body,
            "status": "queued",
            "num_segments": num_segments(&request.body).to_string(),
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": API_VERSION,
            "date_created": date,
            "date_updated": date,
            "date_sent": null,
            "price": null,
            "price_unit": "USD",
            "error_code": null,
            "error_message": null,
            "uri": self.uri(".json"),
            "subresource_uris": { "media": self.uri("/Media.json") },
        })
    }
}

/// "SM" followed by 32 lowercase hex digits, like a real message SID.
fn new_sid() -> String {
    format!("SM{}", uuid::Uuid::new_v4().simple())
}

/// How many SMS segments Twilio would bill for `body`. Approximation: ASCII counts as GSM-7
/// (160 characters, 153 per part once split), anything else as UCS-2 (70, then 67).
fn num_segments(body: &str) -> usize {
    let chars = body.chars().count();
    let (single, per_part) = if body.is_ascii() {
        (160, 153)
    } else {
        (70, 67)
    };
    if chars <= single {
        1
    } else {
        chars.div_ceil(per_part)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid request sent through a messaging service (no `From`).
    pub(crate) fn request() -> MessageRequest {
        MessageRequest {
            to: "+15551234567".into(),
            from: None,
            messaging_service_sid: Some("MG0123".into()),
            body: "Hello".into(),
            status_callback: None,
        }
    }

    #[test]
    fn sid_looks_like_twilio() {
        let sid = new_sid();
        assert_eq!(sid.len(), 34);
        assert!(sid.starts_with("SM"));
        assert!(
            sid[2..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_ne!(sid, new_sid());
    }

    #[test]
    fn resource_has_twilio_fields() {
        let message = Message::accept("ACx", request());
        let json = message.to_json();
        assert_eq!(json["status"], "queued");
        assert_eq!(json["from"], Value::Null);
        assert_eq!(json["messaging_service_sid"], "MG0123");
        assert_eq!(json["num_segments"], "1");
        let uri = format!("/2010-04-01/Accounts/ACx/Messages/{}.json", message.sid);
        assert_eq!(json["uri"], uri);
        let date = json["date_created"].as_str().unwrap_or_default();
        assert!(DateTime::parse_from_rfc2822(date).is_ok(), "{date}");
    }

    #[test]
    fn segments_follow_sms_limits() {
        assert_eq!(num_segments(&"a".repeat(160)), 1);
        assert_eq!(num_segments(&"a".repeat(161)), 2);
        assert_eq!(num_segments(&"a".repeat(306)), 2);
        assert_eq!(num_segments(&"é".repeat(70)), 1);
        assert_eq!(num_segments(&"é".repeat(71)), 2);
    }
}
