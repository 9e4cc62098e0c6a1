//! FCM HTTP v1: `POST {base}/v1/projects/{project}/messages:send` with an OAuth2 bearer token
//! (see [`crate::oauth`]). Android and web tokens go here; Firebase itself relays to APNs for
//! iOS apps that use it, but Switchyard talks to APNs directly for iOS tokens.
//! The base URL is configuration: `https://fcm.googleapis.com` in production, the sandbox in
//! tests and demos.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchyard_runtime::http;
use switchyard_telemetry::Metrics;

use crate::error::FcmErrorCode;
use crate::job::{Content, Platform, Priority, SendPush};
use crate::oauth::{AccessTokens, ServiceAccount};
use crate::{PushError, jwt::KeyError};

/// FCM connection settings.
#[derive(Clone, Debug)]
pub struct FcmConfig {
    /// `https://fcm.googleapis.com` in production; the sandbox's URL otherwise.
    pub base_url: String,
    /// The service account (its project is the one messages are sent in).
    pub service_account: ServiceAccount,
    /// Overrides the service account's `token_uri` (the sandbox's token endpoint).
    pub token_uri: Option<String>,
}

#[derive(Deserialize)]
struct Sent {
    name: String,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorDetail,
}

#[derive(Deserialize, Default)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Vec<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
}

/// An FCM HTTP v1 client.
pub struct Fcm {
    send_url: String,
    tokens: AccessTokens,
    client: reqwest::Client,
    metrics: Metrics,
}

impl Fcm {
    /// A client using `client` (shared pool, timeouts) and counting requests in `metrics`.
    pub fn new(
        config: FcmConfig,
        client: reqwest::Client,
        metrics: Metrics,
    ) -> Result<Self, KeyError> {
        let send_url = format!(
            "{}/v1/projects/{}/messages:send",
            config.base_url.trim_end_matches('/'),
            config.service_account.project_id
        );
        let tokens = AccessTokens::new(
            config.service_account,
            config.token_uri,
            client.clone(),
            metrics.clone(),
        )?;
        Ok(Self {
            send_url,
            tokens,
            client,
            metrics,
        })
    }

    /// Sends one message; returns FCM's message name (`projects/…/messages/…`).
    pub async fn send(&self, push: &SendPush, content: &Content) -> Result<String, PushError> {
        let body = json!({ "message": message(push, content) });
        let response = self.post(&body).await?;
        let sent: Sent = response
            .json()
            .await
            .map_err(|e| PushError::UnexpectedResponse {
                provider: "fcm",
                detail: e.to_string(),
            })?;
        Ok(sent.name)
    }

    /// A dry run (`validate_only`) to a placeholder token: FCM checks the request and our
    /// credentials and delivers nothing. Any answer but an outage means FCM is up; the token
    /// being refused is expected.
    pub async fn probe(&self) -> Result<(), PushError> {
        let body = json!({
            "validate_only": true,
            "message": { "token": "switchyard-probe", "data": { "probe": "1" } },
        });
        self.post(&body).await.map(drop)
    }

    /// Posts `body` with a bearer token. A 401 means the token was refused before anything
    /// was sent, so it is retried once with a fresh token; a second 401 is a configuration
    /// error.
    async fn post(&self, body: &Value) -> Result<reqwest::Response, PushError> {
        for attempt in 0..2 {
            let token = self.tokens.get().await?;
            let response = self.call(&token, body).await?;
            if response.status() != reqwest::StatusCode::UNAUTHORIZED {
                return check(response).await;
            }
            tracing::info!(attempt, "FCM refused the access token; fetching a new one");
            self.tokens.invalidate(&token).await;
        }
        Err(PushError::FcmUnauthenticated)
    }

    async fn call(&self, token: &str, body: &Value) -> Result<reqwest::Response, PushError> {
        let request = self
            .client
            .post(&self.send_url)
            .bearer_auth(token)
            .json(body);
        match request.send().await {
            Ok(response) => {
                self.metrics
                    .provider_request("fcm", Some(response.status().as_u16()));
                Ok(response)
            }
            Err(e) => {
                self.metrics.provider_request("fcm", None);
                Err(PushError::Transport {
                    provider: "fcm",
                    source: e.without_url(),
                })
            }
        }
    }
}

/// The response if 2xx, else FCM's error as a [`PushError::Fcm`].
async fn check(response: reqwest::Response) -> Result<reqwest::Response, PushError> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let retry_after = http::retry_after(response.headers());
    let body: ErrorBody = response.json().await.unwrap_or_default();
    let code = body
        .error
        .details
        .iter()
        .find_map(|d| d.error_code.as_deref())
        .map(FcmErrorCode::parse);
    Err(PushError::Fcm {
        status,
        code,
        message: body.error.message,
        retry_after,
    })
}

/// The v1 `Message` for one token: the notification, the data, and the platform's own
/// delivery options (priority, TTL, collapse key, sound, badge).
fn message(push: &SendPush, content: &Content) -> Value {
    let mut message = Map::new();
    message.insert("token".into(), json!(push.token));
    if !content.is_silent() {
        message.insert(
            "notification".into(),
            json!({ "title": content.title, "body": content.body }),
        );
    }
    if !push.data.is_empty() {
        message.insert("data".into(), json!(push.data));
    }
    match push.platform {
        Platform::Android => {
            message.insert("android".into(), android(push, content));
        }
        Platform::Web => {
            message.insert("webpush".into(), webpush(push, content));
        }
        // Never routed here (APNs serves iOS); the message would still be valid without it.
        Platform::Ios => {}
    }
    strip_nulls(Value::Object(message))
}

fn android(push: &SendPush, content: &Content) -> Value {
    let priority = match push.priority {
        Priority::High => "HIGH",
        Priority::Normal => "NORMAL",
    };
    let mut android = json!({
        "priority": priority,
        "collapse_key": push.collapse_key,
        "ttl": push.ttl_seconds.map(|s| format!("{s}s")),
    });
    if !content.is_silent() {
        android["notification"] = json!({
            "sound": push.sound,
            "notification_count": push.badge,
            "tag": push.collapse_key,
        });
    }
    android
}

fn webpush(push: &SendPush, content: &Content) -> Value {
    let urgency = match push.priority {
        Priority::High => "high",
        Priority::Normal => "normal",
    };
    let mut webpush = json!({
        "headers": { "Urgency": urgency, "TTL": push.ttl_seconds.map(|s| s.to_string()) },
    });
    if !content.is_silent() {
        webpush["notification"] = json!({ "tag": push.collapse_key });
    }
    webpush
}

/// FCM refuses explicit nulls in some fields; absent options are simply left out.
fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(platform: &str) -> SendPush {
        serde_json::from_value(json!({
            "token": "tok", "platform": platform, "collapse_key": "absence",
            "ttl_seconds": 600, "priority": "normal", "badge": 2, "data": {"student": "42"}
        }))
        .unwrap()
    }

    #[test]
    fn android_messages_carry_the_delivery_options() {
        let content = Content {
            title: Some("Absence".into()),
            body: Some("Ada is absent".into()),
        };
        let m = message(&push("android"), &content);
        assert_eq!(m["token"], "tok");
        assert_eq!(m["notification"]["title"], "Absence");
        assert_eq!(m["data"]["student"], "42");
        assert_eq!(m["android"]["priority"], "NORMAL");
        assert_eq!(m["android"]["ttl"], "600s");
        assert_eq!(m["android"]["collapse_key"], "absence");
        assert_eq!(m["android"]["notification"]["notification_count"], 2);
        assert!(m["android"]["notification"].get("sound").is_none(), "{m}");
        assert!(m.get("webpush").is_none());
    }

    #[test]
    fn silent_web_pushes_have_no_notification() {
        let m = message(&push("web"), &Content::default());
        assert!(m.get("notification").is_none());
        assert_eq!(m["webpush"]["headers"]["TTL"], "600");
        assert_eq!(m["webpush"]["headers"]["Urgency"], "normal");
        assert!(m["webpush"].get("notification").is_none());
    }
}
