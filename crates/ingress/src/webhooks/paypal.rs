//! PayPal. Two ways to know a webhook is PayPal's, chosen per source with `verify`:
//!
//! - `verify = "api"` (the default, this module): ask PayPal. `POST
//!   {api_base}/v1/notifications/verify-webhook-signature` with the five `PAYPAL-*` transmission
//!   headers, our webhook id and the event, answered `{"verification_status": "SUCCESS"}` for a
//!   genuine one. The call needs an OAuth2 token (client credentials), cached until a minute
//!   before it expires. The event goes into that request byte-exact (spliced in as raw JSON,
//!   never re-serialised): PayPal computes the CRC32 over the bytes it sent.
//! - `verify = "certificate"` ([`super::paypal_cert`]): check PayPal's SHA256withRSA signature
//!   ourselves against the certificate at `PAYPAL-CERT-URL`, fetched only from an allow-listed
//!   PayPal host and cached. No credentials, one call to PayPal per certificate rather than per
//!   event.
//!
//! Either way the transmission time must be inside the replay window, and PayPal unreachable is
//! a 503, so PayPal retries later; it is never taken as genuine.

use std::fmt;
use std::time::{Duration, Instant};

use chrono::DateTime;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::shared::{ReplayWindow, Secret};
use super::verifier::{Event, Inbound, Refusal, Verified, text_field};

/// PayPal's sandbox API, the default so a dev setup never verifies against live PayPal.
pub const SANDBOX_API: &str = "https://api-m.sandbox.paypal.com";

const HEADERS: [(&str, &str); 5] = [
    ("auth_algo", "paypal-auth-algo"),
    ("cert_url", "paypal-cert-url"),
    ("transmission_id", "paypal-transmission-id"),
    ("transmission_sig", "paypal-transmission-sig"),
    ("transmission_time", "paypal-transmission-time"),
];

/// A PayPal webhook's verifier.
pub struct PayPal {
    /// `https://api-m.paypal.com` in production.
    pub api_base: String,
    /// The REST app's client id.
    pub client_id: String,
    /// The REST app's secret.
    pub client_secret: Secret,
    /// The webhook's id, as PayPal shows it for this listener.
    pub webhook_id: String,
    /// The tolerance on `PAYPAL-TRANSMISSION-TIME`.
    pub window: ReplayWindow,
    /// HTTP client with a timeout.
    pub http: reqwest::Client,
    /// The cached access token and when to stop using it.
    pub token: Mutex<Option<(String, Instant)>>,
}

// By hand: the cached access token must not reach a log.
impl fmt::Debug for PayPal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayPal")
            .field("api_base", &self.api_base)
            .field("client_id", &self.client_id)
            .field("webhook_id", &self.webhook_id)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

impl PayPal {
    /// Asks PayPal whether the request is genuine.
    pub async fn verify(&self, request: &Inbound<'_>) -> Result<Verified, Refusal> {
        let mut fields = serde_json::Map::new();
        for (field, header) in HEADERS {
            fields.insert(field.into(), request.header(header)?.into());
        }
        check_time(request, self.window)?;
        // Not JSON cannot be a PayPal event; refused before bothering PayPal.
        let body: Value =
            serde_json::from_slice(request.body).map_err(|_| Refusal::BadSignature)?;
        fields.insert("webhook_id".into(), self.webhook_id.clone().into());
        if !self.ask(fields, request.body).await? {
            return Err(Refusal::BadSignature);
        }
        event(body)
    }

    /// The verify-webhook-signature call; `true` for `SUCCESS`.
    async fn ask(
        &self,
        fields: serde_json::Map<String, Value>,
        event: &[u8],
    ) -> Result<bool, Refusal> {
        let head = serde_json::to_string(&fields).expect("a map of strings serialises");
        // `{…fields…,"webhook_event":<raw event>}`: the event's bytes exactly as PayPal sent them.
        let mut payload = head.into_bytes();
        payload.pop();
        payload.extend_from_slice(b",\"webhook_event\":");
        payload.extend_from_slice(event);
        payload.push(b'}');
        let token = self.access_token().await?;
        let answer = self
            .http
            .post(format!(
                "{}/v1/notifications/verify-webhook-signature",
                self.api_base
            ))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(payload)
            .send()
            .await
            .map_err(|e| unavailable(&format!("cannot reach PayPal: {e}")))?;
        if answer.status() == reqwest::StatusCode::UNAUTHORIZED {
            *self.token.lock().await = None;
        }
        if !answer.status().is_success() {
            return Err(unavailable(&format!("PayPal answered {}", answer.status())));
        }
        let verdict: Value = answer
            .json()
            .await
            .map_err(|e| unavailable(&format!("unreadable PayPal answer: {e}")))?;
        Ok(verdict["verification_status"] == "SUCCESS")
    }

    async fn access_token(&self) -> Result<String, Refusal> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let secret = String::from_utf8_lossy(self.client_secret.expose()).into_owned();
        let answer = self
            .http
            .post(format!("{}/v1/oauth2/token", self.api_base))
            .basic_auth(&self.client_id, Some(secret))
            .form(&json!({"grant_type": "client_credentials"}))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| {
                unavailable(&format!("PayPal refused or missed the token request: {e}"))
            })?;
        let TokenAnswer {
            access_token,
            expires_in,
        } = answer
            .json()
            .await
            .map_err(|e| unavailable(&format!("unreadable PayPal token answer: {e}")))?;
        let lifetime = Duration::from_secs(expires_in.saturating_sub(60));
        *cached = Some((access_token.clone(), Instant::now() + lifetime));
        Ok(access_token)
    }
}

/// `PAYPAL-TRANSMISSION-TIME` (RFC 3339) inside the replay window; both modes check it first.
pub(super) fn check_time(request: &Inbound<'_>, window: ReplayWindow) -> Result<(), Refusal> {
    let time = request.header("paypal-transmission-time")?;
    let sent = DateTime::parse_from_rfc3339(time).map_err(|_| {
        Refusal::BadHeader("`PAYPAL-TRANSMISSION-TIME` must be an RFC 3339 time".into())
    })?;
    window.check(sent.timestamp(), request.now)
}

/// A genuine PayPal event: its `id` becomes the message id.
pub(super) fn event(body: Value) -> Result<Verified, Refusal> {
    let id = text_field(&body, "id")
        .ok_or_else(|| Refusal::BadBody("a PayPal event carries its `id`".into()))?;
    Ok(Verified::Events(vec![Event {
        id,
        event_type: text_field(&body, "event_type"),
        body,
    }]))
}

fn unavailable(what: &str) -> Refusal {
    // reqwest errors name the URL, never the credentials.
    Refusal::Unavailable(format!(
        "{what}; the webhook cannot be verified now, PayPal will retry (check paypal api_base)"
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex as StdMutex};

    use axum::Router;
    use axum::extract::State;
    use axum::http::{HeaderMap, HeaderValue};
    use axum::routing::post;

    use super::*;

    type Seen = Arc<StdMutex<Vec<Vec<u8>>>>;

    async fn fake_paypal(status: &'static str) -> (String, Seen) {
        let seen: Seen = Arc::default();
        let app = Router::new()
            .route(
                "/v1/oauth2/token",
                post(|| async {
                    axum::Json(json!({"access_token": "A21AA", "expires_in": 32400}))
                }),
            )
            .route(
                "/v1/notifications/verify-webhook-signature",
                post(
                    move |State(seen): State<Seen>, body: axum::body::Bytes| async move {
                        seen.lock().unwrap().push(body.to_vec());
                        axum::Json(json!({"verification_status": status}))
                    },
                ),
            )
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), seen)
    }

    fn paypal(api_base: String) -> PayPal {
        PayPal {
            api_base,
            client_id: "client".into(),
            client_secret: Secret::new("secret"),
            webhook_id: "WH-1".into(),
            window: ReplayWindow::default(),
            http: reqwest::Client::new(),
            token: Mutex::new(None),
        }
    }

    fn headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (_, name) in HEADERS {
            headers.insert(name, HeaderValue::from_static("x"));
        }
        headers.insert(
            "paypal-transmission-time",
            HeaderValue::from_static("2026-11-28T10:00:00Z"),
        );
        headers
    }

    const NOW: i64 = 1_795_860_000; // 2026-11-28T10:00:00Z
    const BODY: &[u8] = br#"{"id":"WH-EVT-1", "event_type":"PAYMENT.CAPTURE.COMPLETED"}"#;

    #[tokio::test]
    async fn success_publishes_and_the_event_reaches_paypal_byte_exact() {
        let (base, seen) = fake_paypal("SUCCESS").await;
        let verdict = paypal(base)
            .verify(&Inbound {
                headers: &headers(),
                query: None,
                body: BODY,
                now: NOW,
            })
            .await;
        let Ok(Verified::Events(events)) = verdict else {
            panic!("refused")
        };
        assert_eq!(events[0].id, "WH-EVT-1");
        let sent = seen.lock().unwrap().pop().unwrap();
        let sent_text = String::from_utf8(sent).unwrap();
        assert!(sent_text.ends_with(&format!(
            "\"webhook_event\":{}}}",
            std::str::from_utf8(BODY).unwrap()
        )));
        let parsed: Value = serde_json::from_str(&sent_text).unwrap();
        assert_eq!(parsed["webhook_id"], "WH-1");
    }

    #[tokio::test]
    async fn failure_is_a_bad_signature_and_stale_or_unreachable_are_refused() {
        let (base, _) = fake_paypal("FAILURE").await;
        let request = |now| Inbound {
            headers: Box::leak(Box::new(headers())),
            query: None,
            body: BODY,
            now,
        };
        assert!(matches!(
            paypal(base).verify(&request(NOW)).await,
            Err(Refusal::BadSignature)
        ));
        let unreachable = paypal("http://127.0.0.1:9".into())
            .verify(&request(NOW))
            .await;
        assert!(matches!(unreachable, Err(Refusal::Unavailable(_))));
        let stale = paypal("http://127.0.0.1:9".into())
            .verify(&request(NOW + 301))
            .await;
        assert!(matches!(stale, Err(Refusal::Stale { .. })));
    }
}
