//! The emulated Firebase Cloud Messaging HTTP v1 API and Google's OAuth 2.0 token endpoint.
//!
//! - `POST /token`: the JWT bearer grant (RFC 7523). The assertion must be RS256-signed with
//!   the configured service account's key, issued by its `client_email`, carry the FCM scope
//!   and not be expired. Answers `{access_token, expires_in, token_type}`.
//! - `POST /v1/projects/{project}/messages:send`: needs a bearer token issued above and not
//!   expired (else 401 `UNAUTHENTICATED`); answers `{name}` or a Google error with
//!   `details[].errorCode`.
//!
//! Magic registration tokens (like Twilio's magic numbers): a token starting `unregistered-`
//! gets 404 `UNREGISTERED`, `invalid-` gets 400 `INVALID_ARGUMENT`, `mismatch-` gets 403
//! `SENDER_ID_MISMATCH`. Faults apply to `messages:send`, not to the token endpoint (Google's
//! auth service is not FCM).

mod error;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http::header::AUTHORIZATION;
use http::{HeaderMap, Method, Uri};
use serde_json::{Value, json};

use self::error::{GoogleError, OAuthError};
use crate::provider::{Answer, Incoming, recorded};
use crate::state::AppState;

/// The scope FCM tokens must be asked for.
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The FCM and OAuth routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/token", post(token))
        .route("/v1/projects/{project}/messages:send", post(send))
}

/// `POST /token`: recorded like any provider request, so tests can count how often the
/// worker asked for a token.
async fn token(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let incoming = Incoming::new(&uri, headers, &body);
    let work = |state: AppState, incoming: Incoming| async move {
        let field = |name: &str| {
            incoming
                .form
                .iter()
                .find(|(k, _)| k == name)
                .map_or("", |(_, v)| v.as_str())
        };
        let response = match grant_token(&state, field("grant_type"), field("assertion")) {
            Ok(token) => Json(json!({
                "access_token": token,
                "expires_in": state.push.token_ttl.as_secs(),
                "token_type": "Bearer",
            }))
            .into_response(),
            Err(err) => err.into_response(),
        };
        Answer {
            response,
            message_sid: None,
        }
    };
    recorded(&state, &method, incoming, work).await
}

/// Checks the grant like Google does; issues a token.
fn grant_token(state: &AppState, grant_type: &str, assertion: &str) -> Result<String, OAuthError> {
    if grant_type != JWT_BEARER {
        return Err(OAuthError::new(
            "unsupported_grant_type",
            "Invalid grant_type",
        ));
    }
    let verified = state
        .push
        .assertions
        .verify(assertion)
        .map_err(|why| OAuthError::new("invalid_grant", &format!("Invalid JWT: {why}")))?;
    let claims = &verified.claims;
    if claims["iss"] != state.push.client_email.as_str() {
        return Err(OAuthError::new(
            "invalid_grant",
            "Invalid JWT: unknown issuer",
        ));
    }
    let scopes = claims["scope"].as_str().unwrap_or_default();
    if !scopes.split(' ').any(|s| s == SCOPE) {
        return Err(OAuthError::new("invalid_scope", "The FCM scope is missing"));
    }
    if !claims["aud"]
        .as_str()
        .is_some_and(|aud| aud.ends_with("/token"))
    {
        return Err(OAuthError::new(
            "invalid_grant",
            "Invalid JWT: bad audience",
        ));
    }
    let now = chrono::Utc::now().timestamp();
    let (iat, exp) = (claims["iat"].as_i64(), claims["exp"].as_i64());
    match (iat, exp) {
        (Some(iat), Some(exp)) if iat <= now + 60 && exp > now && exp - iat <= 3600 => {}
        _ => {
            return Err(OAuthError::new(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
            ));
        }
    }
    Ok(state.push.issue())
}

/// `POST /v1/projects/{project}/messages:send`.
async fn send(
    State(state): State<AppState>,
    Path(project): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let incoming = Incoming::new(&uri, headers, &body);
    let work = move |state: AppState, incoming: Incoming| async move {
        match accept(&state, &incoming, &project).await {
            Ok(name) => Answer {
                response: Json(json!({ "name": name })).into_response(),
                message_sid: Some(name),
            },
            Err(err) => Answer {
                response: err.into_response(),
                message_sid: None,
            },
        }
    };
    recorded(&state, &method, incoming, work).await
}

/// Credentials, then faults, then the message: the order a real service checks them in.
async fn accept(
    state: &AppState,
    incoming: &Incoming,
    project: &str,
) -> Result<String, GoogleError> {
    let bearer = incoming
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|token| state.push.is_valid(token)) {
        return Err(GoogleError::unauthenticated());
    }
    if project != state.push.project_id {
        return Err(GoogleError::new(
            403,
            "Permission denied on the project.",
            Some("SENDER_ID_MISMATCH"),
        ));
    }
    if let Some(fault) = state.injected_fault().await {
        return Err(GoogleError::injected(fault));
    }
    let body = incoming.json.as_ref().unwrap_or(&Value::Null);
    let token = body["message"]["token"].as_str().unwrap_or_default();
    if token.is_empty() {
        return Err(GoogleError::new(
            400,
            "Request contains an invalid argument: message.token is required.",
            Some("INVALID_ARGUMENT"),
        ));
    }
    if let Some(err) = GoogleError::for_magic_token(token) {
        return Err(err);
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let validate_only = body["validate_only"].as_bool().unwrap_or(false);
    let suffix = if validate_only {
        "fake_message_id"
    } else {
        &id
    };
    Ok(format!("projects/{project}/messages/{suffix}"))
}
