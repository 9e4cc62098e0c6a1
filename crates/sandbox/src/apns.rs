//! The emulated APNs provider API: `POST /3/device/{token}` over HTTP/2 (h2c on the sandbox's
//! plain port; HTTP/1.1 is refused, as APNs does). The provider token must be an ES256 JWT
//! signed with the configured key, naming its key id (`kid`) and team (`iss`), issued within
//! the last hour. Errors are Apple-shaped: `{"reason": "BadDeviceToken"}` (410 adds
//! `timestamp`).
//!
//! Magic device tokens: one starting `unregistered-` gets 410 `Unregistered`; anything that
//! is not hex (e.g. `invalid-…`) gets 400 `BadDeviceToken`, as at Apple.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};
use serde_json::json;

use crate::injector::Injected;
use crate::provider::{Answer, Incoming, recorded};
use crate::state::AppState;

/// Apple's limit on a notification payload.
const MAX_PAYLOAD: usize = 4096;
/// Apple refuses provider tokens older than an hour.
const TOKEN_MAX_AGE_SECS: i64 = 3600;
const PUSH_TYPES: [&str; 9] = [
    "alert",
    "background",
    "voip",
    "complication",
    "fileprovider",
    "mdm",
    "liveactivity",
    "pushtotalk",
    "location",
];

/// The APNs route.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/3/device/{token}", post(send))
}

/// An APNs error answer.
#[derive(Debug)]
struct ApnsError {
    status: u16,
    reason: &'static str,
    retry_after_secs: Option<u64>,
}

fn reject(status: u16, reason: &'static str) -> ApnsError {
    ApnsError {
        status,
        reason,
        retry_after_secs: None,
    }
}

impl ApnsError {
    /// Apple's reason for an injected status.
    fn injected(fault: Injected) -> Self {
        let status = match fault {
            Injected::Status(status) => status,
            Injected::RateLimited { retry_after_secs } => {
                return Self {
                    retry_after_secs: Some(retry_after_secs),
                    ..reject(429, "TooManyRequests")
                };
            }
        };
        let reason = match status {
            400 => "BadTopic",
            403 => "InvalidProviderToken",
            404 => "BadPath",
            405 => "MethodNotAllowed",
            410 => "Unregistered",
            413 => "PayloadTooLarge",
            429 => "TooManyRequests",
            500 => "InternalServerError",
            _ => "ServiceUnavailable",
        };
        reject(status, reason)
    }
}

impl IntoResponse for ApnsError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = if self.status == 410 {
            json!({"reason": self.reason, "timestamp": chrono::Utc::now().timestamp_millis()})
        } else {
            json!({"reason": self.reason})
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// `POST /3/device/{token}`.
async fn send(
    State(state): State<AppState>,
    Path(token): Path<String>,
    version: Version,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let size = body.len();
    let incoming = Incoming::new(&uri, headers, &body);
    let work = move |state: AppState, incoming: Incoming| async move {
        match accept(&state, &incoming, &token, version, size).await {
            Ok(apns_id) => {
                let mut response = StatusCode::OK.into_response();
                if let Ok(value) = HeaderValue::from_str(&apns_id) {
                    response.headers_mut().insert("apns-id", value);
                }
                Answer {
                    response,
                    message_sid: Some(apns_id),
                }
            }
            Err(err) => Answer {
                response: err.into_response(),
                message_sid: None,
            },
        }
    };
    recorded(&state, &method, incoming, work).await
}

/// HTTP/2, the provider token, faults, then the device token, headers and payload.
async fn accept(
    state: &AppState,
    incoming: &Incoming,
    token: &str,
    version: Version,
    size: usize,
) -> Result<String, ApnsError> {
    if version != Version::HTTP_2 {
        return Err(reject(505, "HTTP/2 required"));
    }
    check_provider_token(state, &incoming.headers)?;
    if let Some(fault) = state.injected_fault().await {
        return Err(ApnsError::injected(fault));
    }
    if token.starts_with("unregistered-") {
        return Err(reject(410, "Unregistered"));
    }
    if token.len() < 32
        || !token.len().is_multiple_of(2)
        || !token.chars().all(|c| c.is_ascii_hexdigit())
    {
        return Err(reject(400, "BadDeviceToken"));
    }
    check_headers(state, &incoming.headers)?;
    if size == 0 {
        return Err(reject(400, "PayloadEmpty"));
    }
    if size > MAX_PAYLOAD {
        return Err(reject(413, "PayloadTooLarge"));
    }
    if !incoming.json.as_ref().is_some_and(|b| b["aps"].is_object()) {
        return Err(reject(400, "BadPayload"));
    }
    let header = |name: &str| incoming.headers.get(name).and_then(|v| v.to_str().ok());
    Ok(header("apns-id")
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string().to_uppercase()))
}

/// `authorization: bearer <ES256 JWT>` with the configured `kid` and `iss`, under an hour old.
fn check_provider_token(state: &AppState, headers: &HeaderMap) -> Result<(), ApnsError> {
    let Some(jwt) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("bearer ")
                .or_else(|| v.strip_prefix("Bearer "))
        })
    else {
        return Err(reject(403, "MissingProviderToken"));
    };
    let verified = state
        .push
        .provider_tokens
        .verify(jwt)
        .map_err(|_| reject(403, "InvalidProviderToken"))?;
    let apns = &state.push.apns;
    if verified.header["kid"] != apns.key_id.as_str()
        || verified.claims["iss"] != apns.team_id.as_str()
    {
        return Err(reject(403, "InvalidProviderToken"));
    }
    let issued = verified.claims["iat"]
        .as_i64()
        .ok_or(reject(403, "InvalidProviderToken"))?;
    if chrono::Utc::now().timestamp() - issued > TOKEN_MAX_AGE_SECS {
        return Err(reject(403, "ExpiredProviderToken"));
    }
    Ok(())
}

/// The `apns-*` headers Apple validates.
fn check_headers(state: &AppState, headers: &HeaderMap) -> Result<(), ApnsError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match header("apns-topic") {
        None => return Err(reject(400, "MissingTopic")),
        Some(topic) if topic != state.push.apns.topic => {
            return Err(reject(400, "TopicDisallowed"));
        }
        Some(_) => {}
    }
    let push_type = header("apns-push-type").unwrap_or("alert");
    if !PUSH_TYPES.contains(&push_type) {
        return Err(reject(400, "InvalidPushType"));
    }
    let priority = header("apns-priority").unwrap_or("10");
    if !["1", "5", "10"].contains(&priority) || (push_type == "background" && priority != "5") {
        return Err(reject(400, "BadPriority"));
    }
    if header("apns-expiration").is_some_and(|e| e.parse::<i64>().is_err()) {
        return Err(reject(400, "BadExpirationDate"));
    }
    if header("apns-collapse-id").is_some_and(|c| c.len() > 64) {
        return Err(reject(400, "BadCollapseId"));
    }
    if header("apns-id").is_some_and(|id| uuid::Uuid::parse_str(id).is_err()) {
        return Err(reject(400, "BadMessageId"));
    }
    Ok(())
}
