//! The payment-commands worker's settings and wiring: Stripe and PayPal each point at the real
//! provider when its base URL is set (credentials then required), else at the embedded
//! sandbox (with its sandbox-only credentials) when the sandbox runs. A provider with neither
//! is not configured, and its commands park as `provider_not_configured`.

use std::time::Duration;

use anyhow::bail;
use clap::Args;
use switchyard_payments::commands::{PaypalApi, PaypalConfig, StripeApi, StripeConfig};
use switchyard_payments::{ErpEvents, PaymentCommandsWorker};
use switchyard_sandbox::SandboxHandle;
use switchyard_store::Store;

use crate::settings::RunSettings;

/// Stripe and PayPal settings of `switchyard run`.
#[derive(Args, Clone, Debug, Default)]
pub struct PaymentsSettings {
    /// Stripe API base URL (`https://api.stripe.com` in production). Unset: the sandbox's.
    #[arg(long, env = "SWITCHYARD_STRIPE_BASE_URL")]
    pub stripe_base_url: Option<String>,

    /// Stripe secret key (`sk_live_…`; secret: prefer the environment variable). Required with
    /// a real Stripe URL.
    #[arg(long, env = "SWITCHYARD_STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,

    /// PayPal REST API base URL (`https://api-m.paypal.com` in production,
    /// `https://api-m.sandbox.paypal.com` for PayPal's own sandbox). Unset: the provider
    /// sandbox's.
    #[arg(long, env = "SWITCHYARD_PAYPAL_BASE_URL")]
    pub paypal_base_url: Option<String>,

    /// PayPal REST app client id. Required with a real PayPal URL.
    #[arg(long, env = "SWITCHYARD_PAYPAL_CLIENT_ID")]
    pub paypal_client_id: Option<String>,

    /// PayPal REST app secret (prefer the environment variable). Required with a real URL.
    #[arg(long, env = "SWITCHYARD_PAYPAL_CLIENT_SECRET", hide_env_values = true)]
    pub paypal_client_secret: Option<String>,
}

impl PaymentsSettings {
    /// Whether any provider is left to the sandbox (so `run all` starts it).
    pub fn uses_sandbox(&self) -> bool {
        self.stripe_base_url.is_none() || self.paypal_base_url.is_none()
    }
}

/// Builds the payment-commands worker; its ERP answers go through `events`.
pub fn commands_worker(
    run: &RunSettings,
    sandbox: Option<&SandboxHandle>,
    events: ErpEvents,
    store: Store,
) -> anyhow::Result<PaymentCommandsWorker> {
    let client =
        || switchyard_runtime::http::client(Duration::from_secs(run.provider_timeout_secs));
    let stripe = stripe_config(&run.payments, sandbox)?.map(|c| StripeApi::new(c, client()));
    let paypal = paypal_config(&run.payments, sandbox)?.map(|c| PaypalApi::new(c, client()));
    if stripe.is_none() {
        tracing::warn!("Stripe is not configured: Stripe payment commands will park");
    }
    if paypal.is_none() {
        tracing::warn!("PayPal is not configured: PayPal payment commands will park");
    }
    Ok(PaymentCommandsWorker::new(stripe, paypal, events, store))
}

fn stripe_config(
    settings: &PaymentsSettings,
    sandbox: Option<&SandboxHandle>,
) -> anyhow::Result<Option<StripeConfig>> {
    Ok(match (&settings.stripe_base_url, sandbox) {
        (Some(base_url), _) => {
            let Some(secret_key) = settings.stripe_secret_key.clone() else {
                bail!(
                    "SWITCHYARD_STRIPE_BASE_URL is set but SWITCHYARD_STRIPE_SECRET_KEY is not: give the account's secret key (sk_live_…)"
                )
            };
            Some(StripeConfig {
                base_url: base_url.clone(),
                secret_key,
            })
        }
        (None, Some(sandbox)) => Some(StripeConfig {
            base_url: sandbox.base_url(),
            secret_key: switchyard_sandbox::SandboxConfig::default()
                .stripe
                .secret_key,
        }),
        (None, None) => None,
    })
}

fn paypal_config(
    settings: &PaymentsSettings,
    sandbox: Option<&SandboxHandle>,
) -> anyhow::Result<Option<PaypalConfig>> {
    Ok(match (&settings.paypal_base_url, sandbox) {
        (Some(base_url), _) => {
            let (Some(client_id), Some(client_secret)) = (
                settings.paypal_client_id.clone(),
                settings.paypal_client_secret.clone(),
            ) else {
                bail!(
                    "SWITCHYARD_PAYPAL_BASE_URL is set but SWITCHYARD_PAYPAL_CLIENT_ID / SWITCHYARD_PAYPAL_CLIENT_SECRET are not: give the REST app's credentials"
                )
            };
            Some(PaypalConfig {
                base_url: base_url.clone(),
                client_id,
                client_secret,
            })
        }
        (None, Some(sandbox)) => {
            let app = switchyard_sandbox::SandboxConfig::default().paypal;
            Some(PaypalConfig {
                base_url: sandbox.base_url(),
                client_id: app.client_id,
                client_secret: app.client_secret,
            })
        }
        (None, None) => None,
    })
}
