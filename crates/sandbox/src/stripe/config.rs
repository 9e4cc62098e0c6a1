//! The emulated Stripe account: the secret key requests must carry and where its webhooks go.

use std::fmt;

/// The secret key the sandbox accepts unless configured otherwise (test mode, like every key
/// a sandbox can honestly claim to be).
pub const DEFAULT_STRIPE_SECRET_KEY: &str = "sk_test_sandbox";

/// The webhook signing secret unless configured otherwise.
pub const DEFAULT_STRIPE_WEBHOOK_SECRET: &str = "whsec_sandbox";

/// The emulated Stripe account.
#[derive(Clone)]
pub struct StripeConfig {
    /// The secret key (`Authorization: Bearer <key>`); also the scope of idempotency keys.
    pub secret_key: String,
    /// Where events are POSTed (`Stripe-Signature` signed); `None` sends none.
    pub webhook_url: Option<String>,
    /// The endpoint's signing secret (`whsec_…`), used as is for the HMAC, as Stripe does.
    pub webhook_secret: String,
}

impl Default for StripeConfig {
    fn default() -> Self {
        Self {
            secret_key: DEFAULT_STRIPE_SECRET_KEY.to_owned(),
            webhook_url: None,
            webhook_secret: DEFAULT_STRIPE_WEBHOOK_SECRET.to_owned(),
        }
    }
}

/// Masks the secrets: configs end up in logs.
impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("secret_key", &"***")
            .field("webhook_url", &self.webhook_url)
            .field("webhook_secret", &"***")
            .finish()
    }
}
