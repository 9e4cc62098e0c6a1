//! `POST /v1/oauth2/token`: the client-credentials grant with the app's id and secret over
//! HTTP Basic, and the access tokens every other PayPal route then requires.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use serde_json::json;
use tokio::time::Instant;

use super::error::oauth;
use crate::idempotency::Reply;
use crate::pipeline::{Executed, random_id};
use crate::state::AppState;

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Issued access tokens and when each expires.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    issued: Mutex<HashMap<String, Instant>>,
}

impl Tokens {
    /// A new token valid for `ttl`.
    fn issue(&self, ttl: Duration) -> String {
        let token = format!("A21AA{}", random_id(ALPHANUMERIC, 90));
        self.lock().insert(token.clone(), Instant::now() + ttl);
        token
    }

    /// Whether `Authorization: Bearer <token>` names a token issued here and not expired.
    pub(crate) fn admits(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let Some(token) = bearer else {
            return false;
        };
        let expires = self.lock().get(token.trim()).copied();
        expires.is_some_and(|at| Instant::now() < at)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Instant>> {
        self.issued.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Checks the client credentials and the grant type, before faults: PayPal checks who is
/// calling first.
pub(crate) fn check(
    state: &AppState,
    headers: &HeaderMap,
    grant_type: Option<&str>,
) -> Result<(), Reply> {
    let config = &state.paypal.config;
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let expected = format!("{}:{}", config.client_id, config.client_secret);
    if presented.as_deref() != Some(expected.as_str()) {
        return Err(oauth(401, "invalid_client", "Client Authentication failed"));
    }
    match grant_type {
        Some("client_credentials") => Ok(()),
        None => Err(oauth(400, "unsupported_grant_type", "Grant Type is NULL")),
        Some(_) => Err(oauth(
            400,
            "unsupported_grant_type",
            "Grant Type is not supported",
        )),
    }
}

/// Issues a token: the grant's answer.
pub(crate) fn grant(state: &AppState) -> Executed {
    let ttl = state.paypal.config.token_ttl;
    let body = json!({
        "scope": "https://uri.paypal.com/services/payments/payment/authcapture https://uri.paypal.com/services/payments/refund https://uri.paypal.com/services/subscriptions https://uri.paypal.com/services/applications/webhooks openid",
        "access_token": state.paypal.tokens.issue(ttl),
        "token_type": "Bearer",
        "app_id": "APP-SANDBOX00000000",
        "expires_in": ttl.as_secs(),
        "nonce": format!("{}{}", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"), random_id(ALPHANUMERIC, 43)),
    });
    Executed::ran(Reply::json(200, body))
}
