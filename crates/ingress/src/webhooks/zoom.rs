//! Zoom: `x-zm-signature: v0=<hex>`, HMAC-SHA256 of `v0:{x-zm-request-timestamp}:{raw body}`
//! under the app's secret token. The `endpoint.url_validation` challenge is answered at once
//! with `{plainToken, encryptedToken = hex(HMAC-SHA256(secret, plainToken))}` and nothing is
//! published; the challenge's own signature is checked first, because answering an unsigned
//! one would let anyone have us HMAC a string of their choice — a signing oracle.
//!
//! Zoom events carry no id, so the message id is a hash of the body (event, `event_ts` and
//! payload): a redelivery of the same event has the same body and is published once.

use axum::Json;
use axum::response::IntoResponse;
use serde_json::json;

use super::shared::{ReplayWindow, Secret, any_ct_eq, hex, hmac_sha256, sha256_hex, unhex};
use super::verifier::{Event, Inbound, Refusal, Verified, text_field};

/// A Zoom app's verifier.
#[derive(Debug)]
pub struct Zoom {
    /// The app's secret tokens (current, and the previous one while rotating).
    pub secrets: Vec<Secret>,
    /// The timestamp tolerance.
    pub window: ReplayWindow,
}

const SIGNATURE: &str = "x-zm-signature";
const TIMESTAMP: &str = "x-zm-request-timestamp";

impl Zoom {
    /// Checks signature and timestamp, answers a URL validation, or yields the event.
    pub fn verify(&self, request: &Inbound<'_>) -> Result<Verified, Refusal> {
        let timestamp = request.header(TIMESTAMP)?;
        let signature = request
            .header(SIGNATURE)?
            .strip_prefix("v0=")
            .and_then(unhex)
            .ok_or_else(|| Refusal::BadHeader(format!("`{SIGNATURE}` must be `v0=<hex>`")))?;
        let signed = [b"v0:", timestamp.as_bytes(), b":", request.body];
        let macs: Vec<[u8; 32]> = self
            .secrets
            .iter()
            .map(|s| hmac_sha256(s.expose(), &signed))
            .collect();
        if !any_ct_eq(&signature, macs.iter().map(|m| &m[..])) {
            return Err(Refusal::BadSignature);
        }
        self.window.check_text(TIMESTAMP, timestamp, request.now)?;
        let body = request.json()?;
        let event_type = text_field(&body, "event");
        if event_type.as_deref() == Some("endpoint.url_validation") {
            return self.validation_reply(&body);
        }
        Ok(Verified::Events(vec![Event {
            id: format!("zoom-{}", &sha256_hex(request.body)[..32]),
            event_type,
            body,
        }]))
    }

    fn validation_reply(&self, body: &serde_json::Value) -> Result<Verified, Refusal> {
        let plain = body["payload"]["plainToken"].as_str().ok_or_else(|| {
            Refusal::BadBody("a URL validation carries `payload.plainToken`".into())
        })?;
        // The first secret answers: it is the current one.
        let secret = self.secrets.first().ok_or(Refusal::BadSignature)?;
        let encrypted = hex(&hmac_sha256(secret.expose(), &[plain.as_bytes()]));
        let reply = Json(json!({ "plainToken": plain, "encryptedToken": encrypted }));
        Ok(Verified::Reply(reply.into_response()))
    }
}

/// The headers Zoom would send for `body` at `timestamp` (tests).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> (String, String) {
    let t = timestamp.to_string();
    let mac = hmac_sha256(secret.as_bytes(), &[b"v0:", t.as_bytes(), b":", body]);
    (t, format!("v0={}", hex(&mac)))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::*;

    fn zoom() -> Zoom {
        Zoom {
            secrets: vec![Secret::new("zoom-secret")],
            window: ReplayWindow::default(),
        }
    }

    fn check(body: &[u8], signed_body: &[u8], at: i64, now: i64) -> Result<Verified, Refusal> {
        let (t, sig) = sign("zoom-secret", at, signed_body);
        let mut headers = HeaderMap::new();
        headers.insert(TIMESTAMP, HeaderValue::from_str(&t).unwrap());
        headers.insert(SIGNATURE, HeaderValue::from_str(&sig).unwrap());
        zoom().verify(&Inbound {
            headers: &headers,
            query: None,
            body,
            now,
        })
    }

    #[test]
    fn accepts_a_signed_event_with_a_stable_id() {
        let body = br#"{"event":"recording.completed","event_ts":1,"payload":{}}"#;
        let Ok(Verified::Events(first)) = check(body, body, 1_000, 1_000) else {
            panic!("refused")
        };
        let Ok(Verified::Events(again)) = check(body, body, 1_100, 1_100) else {
            panic!("refused")
        };
        assert_eq!(first[0].id, again[0].id, "a redelivery has the same id");
        assert_eq!(first[0].event_type.as_deref(), Some("recording.completed"));
    }

    #[test]
    fn refuses_altered_and_stale() {
        let body = br#"{"event":"meeting.started","payload":{}}"#;
        let altered = br#"{"event":"meeting.starteD","payload":{}}"#;
        assert!(matches!(
            check(altered, body, 1_000, 1_000),
            Err(Refusal::BadSignature)
        ));
        assert!(matches!(
            check(body, body, 1_000, 1_400),
            Err(Refusal::Stale { .. })
        ));
    }

    #[tokio::test]
    async fn answers_url_validation_with_the_hmac_of_the_plain_token() {
        let body = br#"{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"}}"#;
        let Ok(Verified::Reply(reply)) = check(body, body, 1_000, 1_000) else {
            panic!("no reply")
        };
        let bytes = axum::body::to_bytes(reply.into_body(), 1024).await.unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let expected = hex(&hmac_sha256(b"zoom-secret", &[b"qgg8vlvZRS6UYooatFL8Aw"]));
        assert_eq!(answer["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
        assert_eq!(answer["encryptedToken"], expected.as_str());
    }
}
