//! APNs over HTTP/2: `POST {base}/3/device/{token}` with an ES256 provider token (a JWT with
//! the key id and team id, signed with the `.p8` key). Apple wants the provider token reused
//! for at least 20 and at most 60 minutes, so it is re-signed on a fixed interval in between.
//!
//! APNs speaks only HTTP/2. Over `https://` that is negotiated with ALPN; the sandbox is plain
//! `http://`, where there is nothing to negotiate with, so the client speaks HTTP/2 from the
//! first byte (h2c with prior knowledge).

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchyard_contract::DeliveryContext;
use switchyard_runtime::http;
use switchyard_telemetry::{Metrics, mask};
use tokio::time::Instant;

use crate::PushError;
use crate::job::{Content, Priority, SendPush};
use crate::jwt::{Es256, KeyError};

/// The provider-token refresh interval Apple allows: at least 20, at most 60 minutes.
pub const REFRESH_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(20 * 60), Duration::from_secs(60 * 60));
/// The refresh interval used unless configured: well inside Apple's window.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(40 * 60);

/// The 403 reasons that are about our provider token, not the device.
const PROVIDER_TOKEN_REASONS: [&str; 3] = [
    "ExpiredProviderToken",
    "InvalidProviderToken",
    "MissingProviderToken",
];

/// APNs connection settings.
#[derive(Clone)]
pub struct ApnsConfig {
    /// `https://api.push.apple.com` (or `https://api.sandbox.push.apple.com` for development
    /// builds of the app); the provider sandbox's URL otherwise.
    pub base_url: String,
    /// The `.p8` key, PKCS#8 PEM (secret; never logged).
    pub key_pem: String,
    /// The key's id (10 characters), the JWT `kid`.
    pub key_id: String,
    /// The Apple developer team id, the JWT `iss`.
    pub team_id: String,
    /// The app's bundle id: `apns-topic`.
    pub topic: String,
    /// How often the provider token is re-signed (20–60 minutes).
    pub token_refresh: Duration,
}

/// Never shows the key.
impl fmt::Debug for ApnsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApnsConfig")
            .field("base_url", &self.base_url)
            .field("key_pem", &mask::secret(&self.key_pem))
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .field("topic", &self.topic)
            .field("token_refresh", &self.token_refresh)
            .finish()
    }
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    reason: String,
}

/// Signs provider tokens and reuses each for the refresh interval.
struct ProviderTokens {
    signer: Es256,
    key_id: String,
    team_id: String,
    refresh: Duration,
    cached: Mutex<Option<(String, Instant)>>,
}

impl ProviderTokens {
    fn get(&self) -> Result<String, KeyError> {
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((token, signed)) = cached.as_ref()
            && signed.elapsed() < self.refresh
        {
            return Ok(token.clone());
        }
        let header = json!({"alg": "ES256", "kid": self.key_id});
        let claims = json!({"iss": self.team_id, "iat": chrono::Utc::now().timestamp()});
        let token = self.signer.sign(&header, &claims)?;
        *cached = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    /// Forgets `stale` after APNs refused it, unless it was replaced meanwhile.
    fn invalidate(&self, stale: &str) {
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if cached.as_ref().is_some_and(|(t, _)| t == stale) {
            *cached = None;
        }
    }
}

/// An APNs client.
pub struct Apns {
    base_url: String,
    topic: String,
    tokens: ProviderTokens,
    client: reqwest::Client,
    metrics: Metrics,
}

impl Apns {
    /// A client with its own HTTP/2 connection pool, each request bounded by `timeout`.
    pub fn new(config: ApnsConfig, timeout: Duration, metrics: Metrics) -> Result<Self, KeyError> {
        let (min, max) = REFRESH_BOUNDS;
        if !(min..=max).contains(&config.token_refresh) {
            return Err(KeyError {
                what: "the APNs provider token refresh interval".into(),
                reason: format!(
                    "must be between 20 and 60 minutes (Apple's rule), got {:?}",
                    config.token_refresh
                ),
            });
        }
        let signer = Es256::from_pem(&config.key_pem, "the APNs key (.p8)")?;
        let client = client(&config.base_url, timeout).map_err(|e| KeyError {
            what: "the APNs HTTP/2 client".into(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            topic: config.topic,
            tokens: ProviderTokens {
                signer,
                key_id: config.key_id,
                team_id: config.team_id,
                refresh: config.token_refresh,
                cached: Mutex::new(None),
            },
            client,
            metrics,
        })
    }

    /// Sends one notification; returns the `apns-id` APNs assigned (or echoed).
    pub async fn send(
        &self,
        push: &SendPush,
        content: &Content,
        ctx: &DeliveryContext,
    ) -> Result<String, PushError> {
        let request = Outgoing {
            token: &push.token,
            headers: headers(push, content, &ctx.message_id),
            body: payload(push, content),
        };
        let response = self.post(&request).await?;
        response
            .headers()
            .get("apns-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| PushError::UnexpectedResponse {
                provider: "apns",
                detail: "2xx without an apns-id header".into(),
            })
    }

    /// A background push to a device token that cannot exist: APNs checks our provider token
    /// and answers `BadDeviceToken` without delivering anything. Any answer but an outage
    /// means APNs is up.
    pub async fn probe(&self) -> Result<(), PushError> {
        let request = Outgoing {
            token: "switchyard-probe",
            headers: vec![
                ("apns-push-type", "background".into()),
                ("apns-priority", "5".into()),
            ],
            body: json!({"aps": {"content-available": 1}}),
        };
        self.post(&request).await.map(drop)
    }

    /// Posts with a provider token. A provider-token 403 means APNs delivered nothing, so it
    /// is retried once with a freshly signed token; a second one is a configuration error and
    /// says nothing about the device.
    async fn post(&self, request: &Outgoing<'_>) -> Result<reqwest::Response, PushError> {
        let mut refused = String::new();
        for _ in 0..2 {
            let jwt = self.tokens.get()?;
            let response = self.call(&jwt, request).await?;
            match error_of(response).await? {
                Ok(response) => return Ok(response),
                Err(PushError::Apns {
                    status: 403,
                    reason,
                    ..
                }) if PROVIDER_TOKEN_REASONS.contains(&reason.as_str()) => {
                    tracing::info!(%reason, "APNs refused the provider token; signing a new one");
                    self.tokens.invalidate(&jwt);
                    refused = reason;
                }
                Err(other) => return Err(other),
            }
        }
        Err(PushError::ApnsProviderToken { reason: refused })
    }

    async fn call(
        &self,
        jwt: &str,
        request: &Outgoing<'_>,
    ) -> Result<reqwest::Response, PushError> {
        let url = format!("{}/3/device/{}", self.base_url, request.token);
        let mut builder = self
            .client
            .post(url)
            .bearer_auth(jwt)
            .header("apns-topic", &self.topic)
            .json(&request.body);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        match builder.send().await {
            Ok(response) => {
                self.metrics
                    .provider_request("apns", Some(response.status().as_u16()));
                Ok(response)
            }
            Err(e) => {
                self.metrics.provider_request("apns", None);
                Err(PushError::Transport {
                    provider: "apns",
                    source: e.without_url(),
                })
            }
        }
    }
}

/// One request to APNs.
struct Outgoing<'a> {
    token: &'a str,
    headers: Vec<(&'static str, String)>,
    body: Value,
}

/// `Ok(Ok(response))` if 2xx, `Ok(Err(apns error))` otherwise (the outer `Result` is for a
/// body that could not be read, which cannot happen before the status is known).
async fn error_of(
    response: reqwest::Response,
) -> Result<Result<reqwest::Response, PushError>, PushError> {
    if response.status().is_success() {
        return Ok(Ok(response));
    }
    let status = response.status().as_u16();
    let retry_after = http::retry_after(response.headers());
    let body: ErrorBody = response.json().await.unwrap_or_default();
    Ok(Err(PushError::Apns {
        status,
        reason: body.reason,
        retry_after,
    }))
}

/// The HTTP/2 client: prior knowledge for `http://` (h2c, the sandbox), ALPN for `https://`.
fn client(base_url: &str, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")));
    if base_url.starts_with("http://") {
        builder.http2_prior_knowledge().build()
    } else {
        builder.build()
    }
}

/// `apns-push-type`, `apns-priority`, `apns-expiration`, `apns-collapse-id`, `apns-id`.
fn headers(push: &SendPush, content: &Content, message_id: &str) -> Vec<(&'static str, String)> {
    // A background push must go with priority 5, or APNs refuses it.
    let (push_type, priority) = match (content.is_silent(), push.priority) {
        (true, _) => ("background", "5"),
        (false, Priority::High) => ("alert", "10"),
        (false, Priority::Normal) => ("alert", "5"),
    };
    let mut headers = vec![
        ("apns-push-type", push_type.to_owned()),
        ("apns-priority", priority.to_owned()),
    ];
    if let Some(ttl) = push.ttl_seconds {
        // 0 means "now or never" to APNs; otherwise an absolute UNIX time.
        let expiration = match ttl {
            0 => 0,
            secs => chrono::Utc::now().timestamp() + i64::from(secs),
        };
        headers.push(("apns-expiration", expiration.to_string()));
    }
    if let Some(collapse) = &push.collapse_key {
        headers.push(("apns-collapse-id", collapse.clone()));
    }
    // APNs echoes a UUID apns-id, which ties its logs to our message id.
    if is_uuid(message_id) {
        headers.push(("apns-id", message_id.to_owned()));
    }
    headers
}

fn is_uuid(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `{"aps": {...}, <data keys>...}`.
fn payload(push: &SendPush, content: &Content) -> Value {
    let mut aps = Map::new();
    if content.is_silent() {
        aps.insert("content-available".into(), json!(1));
    } else {
        let mut alert = Map::new();
        if let Some(title) = &content.title {
            alert.insert("title".into(), json!(title));
        }
        if let Some(body) = &content.body {
            alert.insert("body".into(), json!(body));
        }
        aps.insert("alert".into(), Value::Object(alert));
        if let Some(sound) = &push.sound {
            aps.insert("sound".into(), json!(sound));
        }
    }
    if let Some(badge) = push.badge {
        aps.insert("badge".into(), json!(badge));
    }
    let mut payload = Map::new();
    for (key, value) in &push.data {
        // `aps` is Apple's; a data key of that name must not replace it.
        if key != "aps" {
            payload.insert(key.clone(), json!(value));
        }
    }
    payload.insert("aps".into(), Value::Object(aps));
    Value::Object(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(extra: Value) -> SendPush {
        let mut base = json!({"token": "ab12", "platform": "ios"});
        if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
            base.extend(extra);
        }
        serde_json::from_value(base).unwrap()
    }

    fn header<'a>(headers: &'a [(&str, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn alerts_carry_apple_headers() {
        let content = Content {
            title: Some("t".into()),
            body: Some("b".into()),
        };
        let p = push(json!({"collapse_key": "fees", "ttl_seconds": 0, "priority": "normal"}));
        let h = headers(&p, &content, "0193b8f0-5c4a-7c3e-9f1e-2a4b6c8d0e1f");
        assert_eq!(header(&h, "apns-push-type"), Some("alert"));
        assert_eq!(header(&h, "apns-priority"), Some("5"));
        assert_eq!(header(&h, "apns-expiration"), Some("0"));
        assert_eq!(header(&h, "apns-collapse-id"), Some("fees"));
        assert_eq!(
            header(&h, "apns-id"),
            Some("0193b8f0-5c4a-7c3e-9f1e-2a4b6c8d0e1f")
        );
        assert_eq!(
            header(&headers(&p, &content, "not-a-uuid"), "apns-id"),
            None
        );
    }

    #[test]
    fn silent_pushes_are_background_priority_5() {
        let p = push(json!({"data": {"sync": "1", "aps": "x"}, "badge": 3}));
        let h = headers(&p, &Content::default(), "m");
        assert_eq!(header(&h, "apns-push-type"), Some("background"));
        assert_eq!(header(&h, "apns-priority"), Some("5"));
        let body = payload(&p, &Content::default());
        assert_eq!(body["aps"]["content-available"], 1);
        assert_eq!(body["aps"]["badge"], 3);
        assert_eq!(body["sync"], "1");
    }

    #[test]
    fn refresh_outside_apples_window_is_refused() {
        let config = ApnsConfig {
            base_url: "http://127.0.0.1:1".into(),
            key_pem: include_str!("../../../crates/sandbox/testdata/apns-sandbox.p8").into(),
            key_id: "K".into(),
            team_id: "T".into(),
            topic: "app".into(),
            token_refresh: Duration::from_secs(10 * 60),
        };
        let err = Apns::new(config.clone(), Duration::from_secs(1), Metrics::new())
            .err()
            .unwrap();
        assert!(err.reason.contains("between 20 and 60"), "{err}");
        let ok = ApnsConfig {
            token_refresh: DEFAULT_REFRESH,
            ..config
        };
        assert!(Apns::new(ok, Duration::from_secs(1), Metrics::new()).is_ok());
    }
}
