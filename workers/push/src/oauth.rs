//! FCM's credentials: a Google service account traded for short-lived OAuth2 access tokens
//! with the JWT bearer grant (RFC 7523): an RS256-signed assertion `POST`ed to the account's
//! `token_uri`. Tokens are cached until a minute before they expire, and only one refresh runs
//! at a time, so a burst of sends costs one token request, not one each.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use switchyard_runtime::http;
use switchyard_telemetry::Metrics;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::PushError;
use crate::jwt::{KeyError, Rs256};

/// The scope FCM HTTP v1 requires.
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// How long before its expiry a token is replaced: a token must not expire in flight.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Lifetime asked for in the assertion (Google's maximum).
const ASSERTION_LIFETIME_SECS: i64 = 3600;

/// The fields of a service-account JSON file that FCM needs.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    /// The Firebase project the messages are sent in.
    pub project_id: String,
    /// The account: the assertion's issuer.
    pub client_email: String,
    /// Key id, sent as the JWT `kid`.
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// PKCS#8 PEM RSA key (secret; never logged).
    pub private_key: String,
    /// Where assertions are traded for access tokens.
    pub token_uri: String,
}

impl ServiceAccount {
    /// Parses the JSON Google hands out for a service account.
    pub fn from_json(text: &str) -> Result<Self, KeyError> {
        serde_json::from_str(text).map_err(|e| KeyError {
            what: "the FCM service account".into(),
            reason: format!("not a service-account JSON file ({e})"),
        })
    }
}

/// Never shows the key.
impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field(
                "private_key",
                &switchyard_telemetry::mask::secret(&self.private_key),
            )
            .field("token_uri", &self.token_uri)
            .finish()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize, Default)]
struct OAuthErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

struct Cached {
    token: String,
    refresh_at: Instant,
}

/// Access tokens for one service account.
pub struct AccessTokens {
    account: ServiceAccount,
    token_uri: String,
    signer: Rs256,
    client: reqwest::Client,
    metrics: Metrics,
    cached: Mutex<Option<Cached>>,
}

impl AccessTokens {
    /// Tokens for `account`, asked from `token_uri` (the account's own unless overridden,
    /// e.g. by the sandbox).
    pub fn new(
        account: ServiceAccount,
        token_uri: Option<String>,
        client: reqwest::Client,
        metrics: Metrics,
    ) -> Result<Self, KeyError> {
        let signer = Rs256::from_pem(
            &account.private_key,
            "the FCM service account's private_key",
        )?;
        Ok(Self {
            token_uri: token_uri.unwrap_or_else(|| account.token_uri.clone()),
            account,
            signer,
            client,
            metrics,
            cached: Mutex::new(None),
        })
    }

    /// A valid access token: the cached one, or a fresh one. Concurrent callers wait for one
    /// refresh instead of each starting their own (the lock is held across it on purpose).
    pub async fn get(&self) -> Result<String, PushError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.refresh_at) {
            return Ok(c.token.clone());
        }
        let (token, expires_in) = self.fetch().await?;
        let lifetime = Duration::from_secs(expires_in).saturating_sub(REFRESH_MARGIN);
        *cached = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime,
        });
        Ok(token)
    }

    /// Forgets `stale` after FCM refused it, so the next [`get`](Self::get) fetches a new
    /// one. A token another caller already replaced is left alone (no refresh storm).
    pub async fn invalidate(&self, stale: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| c.token == stale) {
            *cached = None;
        }
    }

    async fn fetch(&self) -> Result<(String, u64), PushError> {
        let assertion = self.assertion()?;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ];
        let response = match self.client.post(&self.token_uri).form(&form).send().await {
            Ok(r) => r,
            Err(e) => {
                self.metrics.provider_request("fcm_oauth", None);
                return Err(PushError::OAuthTransport(e.without_url()));
            }
        };
        let status = response.status().as_u16();
        self.metrics.provider_request("fcm_oauth", Some(status));
        if !response.status().is_success() {
            let retry_after = http::retry_after(response.headers());
            let body: OAuthErrorBody = response.json().await.unwrap_or_default();
            return Err(PushError::OAuth {
                status,
                error: format!("{} {}", body.error, body.error_description)
                    .trim()
                    .to_owned(),
                retry_after,
            });
        }
        let body: TokenResponse =
            response
                .json()
                .await
                .map_err(|e| PushError::UnexpectedResponse {
                    provider: "oauth",
                    detail: e.to_string(),
                })?;
        tracing::debug!(expires_in = body.expires_in, "new FCM access token");
        Ok((body.access_token, body.expires_in))
    }

    fn assertion(&self) -> Result<String, KeyError> {
        let now = chrono::Utc::now().timestamp();
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.account.private_key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "iss": self.account.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        self.signer.sign(&header, &claims)
    }
}
