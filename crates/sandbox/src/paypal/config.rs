//! The emulated PayPal REST app: the client credentials its OAuth endpoint accepts and where
//! its webhooks go.

use std::fmt;
use std::time::Duration;

/// The client id the sandbox accepts unless configured otherwise.
pub const DEFAULT_PAYPAL_CLIENT_ID: &str = "sandbox-paypal-client";

/// The client secret the sandbox accepts unless configured otherwise.
pub const DEFAULT_PAYPAL_CLIENT_SECRET: &str = "sandbox-paypal-secret";

/// The webhook id the sandbox signs with and verifies against unless configured otherwise.
pub const DEFAULT_PAYPAL_WEBHOOK_ID: &str = "WH-SANDBOX";

/// The emulated PayPal REST app.
#[derive(Clone)]
pub struct PayPalConfig {
    /// The REST app's client id (the Basic auth user of `/v1/oauth2/token`).
    pub client_id: String,
    /// The REST app's secret (the Basic auth password).
    pub client_secret: String,
    /// `expires_in` of issued access tokens (PayPal's is 9 hours); refused afterwards (401).
    pub token_ttl: Duration,
    /// Where webhooks are POSTed; `None` sends none.
    pub webhook_url: Option<String>,
    /// The webhook's id: part of what each webhook's signature covers, and the only id
    /// `verify-webhook-signature` accepts.
    pub webhook_id: String,
}

impl Default for PayPalConfig {
    fn default() -> Self {
        Self {
            client_id: DEFAULT_PAYPAL_CLIENT_ID.to_owned(),
            client_secret: DEFAULT_PAYPAL_CLIENT_SECRET.to_owned(),
            token_ttl: Duration::from_secs(32_400),
            webhook_url: None,
            webhook_id: DEFAULT_PAYPAL_WEBHOOK_ID.to_owned(),
        }
    }
}

/// Masks the secret.
impl fmt::Debug for PayPalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayPalConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("token_ttl", &self.token_ttl)
            .field("webhook_url", &self.webhook_url)
            .field("webhook_id", &self.webhook_id)
            .finish()
    }
}
