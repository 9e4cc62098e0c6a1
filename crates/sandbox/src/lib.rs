//! Provider sandbox: emulates the provider APIs Switchyard calls, with fault injection and a
//! request record.
//!
//! It is what `switchyard run all` talks to when no provider credentials are configured, and
//! the fake every test uses instead of a real provider. "Faithful" is the point: worker code
//! written against the real API (paths, HTTP Basic auth, form fields, JSON resources, error
//! bodies, signed status callbacks) runs unchanged against it, so what passes here passes
//! against the provider. It emulates Twilio's Messages API, FCM HTTP v1 with Google's OAuth
//! token endpoint (`fcm.rs`), APNs over HTTP/2 (`apns.rs`), Stripe's Checkout, Refunds and
//! Subscriptions (`stripe/`) and PayPal's Orders, Refunds and Subscriptions (`paypal/`).
//! The payment providers share idempotency keys (`idempotency.rs`), one request pipeline in
//! which latency comes after the work (`pipeline.rs`: a client that times out has still
//! caused its refund) and signed webhooks (`webhooks.rs`, recorded like status callbacks).
//!
//! ```no_run
//! # async fn demo() -> Result<(), switchyard_sandbox::SandboxError> {
//! use switchyard_sandbox::{FaultConfig, SandboxConfig};
//!
//! let sandbox = switchyard_sandbox::start(SandboxConfig::ephemeral()).await?;
//! // Point the worker at sandbox.base_url(), then fail its next two calls:
//! sandbox.set_faults(FaultConfig { next_statuses: vec![503, 503], ..FaultConfig::default() });
//! // …and assert on sandbox.requests() / sandbox.callbacks().
//! sandbox.shutdown();
//! # Ok(()) }
//! ```
//!
//! Other processes drive it over HTTP instead: `GET|DELETE /_sandbox/requests`,
//! `GET /_sandbox/callbacks`, `GET|PUT /_sandbox/faults`, `GET|DELETE /_sandbox/mail` (what the
//! SMTP relays took; see `smtp/`), and play the customer with the test hooks in `hooks.rs`
//! (`POST /_sandbox/stripe/checkout/sessions/{id}/pay`, `POST /_sandbox/paypal/orders/{id}/capture`).

mod admin;
mod apns;
mod callbacks;
mod config;
mod error;
mod faults;
mod fcm;
mod hooks;
mod idempotency;
mod injector;
mod jws;
mod ledger;
mod paypal;
mod pipeline;
mod provider;
mod push_accounts;
mod record;
mod smtp;
mod state;
mod stripe;
mod twilio;
mod webhooks;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

pub use config::{
    ApnsConfig, DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_PORT, FcmConfig, SANDBOX_APNS_KEY,
    SANDBOX_SERVICE_ACCOUNT, SandboxConfig, TwilioConfig,
};
pub use error::{HookError, SandboxError};
pub use faults::{FaultConfig, FaultError, Outage, RateLimit};
pub use paypal::{
    DEFAULT_PAYPAL_CLIENT_ID, DEFAULT_PAYPAL_CLIENT_SECRET, DEFAULT_PAYPAL_WEBHOOK_ID, PayPalConfig,
};
pub use record::{RecordedCallback, RecordedRequest};
pub use smtp::{
    DEFAULT_SMTP_PASSWORD, DEFAULT_SMTP_USER, RecordedMail, SmtpConfig, SmtpFaults, SmtpListeners,
};
pub use stripe::{DEFAULT_STRIPE_SECRET_KEY, DEFAULT_STRIPE_WEBHOOK_SECRET, StripeConfig};

use state::AppState;

/// A status callback receiver that hangs must not hold a callback task forever.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `config.listen`, starts serving in the background and returns once the port is
/// listening, so requests sent right after cannot be refused.
///
/// The server runs until [`SandboxHandle::shutdown`] or process exit; dropping the handle
/// does not stop it.
pub async fn start(config: SandboxConfig) -> Result<SandboxHandle, SandboxError> {
    config.faults.validate()?;
    let http = reqwest::Client::builder()
        .timeout(CALLBACK_TIMEOUT)
        // Callbacks go to local receivers; an HTTP(S)_PROXY meant for the outside world
        // would only get in the way.
        .no_proxy()
        .build()
        .map_err(SandboxError::HttpClient)?;
    let addr = config.listen;
    let bind_error = |source| SandboxError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let push = push_accounts::PushAccounts::new(&config.fcm, &config.apns)
        .map_err(SandboxError::Credentials)?;
    let state = AppState::new(state::Setup {
        twilio: config.twilio,
        push,
        stripe: config.stripe,
        paypal: config.paypal,
        faults: config.faults,
        http,
        base_url: config
            .public_url
            .map(|url| url.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| base_url(addr)),
    })
    .map_err(SandboxError::Credentials)?;
    let smtp = smtp::start(config.smtp, &state).await?;
    tokio::spawn(serve(listener, state.clone()));
    tracing::info!(%addr, "provider sandbox listening");
    Ok(SandboxHandle {
        addr,
        state,
        smtp,
        fcm_service_account: config.fcm.service_account_json.into(),
    })
}

/// Serves until shutdown is asked for, letting in-flight requests finish.
async fn serve(listener: TcpListener, state: AppState) {
    let signal_state = state.clone();
    let signal = async move { signal_state.shutdown_requested().await };
    let served = axum::serve(listener, app(state.clone()))
        .with_graceful_shutdown(signal)
        .await;
    if let Err(err) = served {
        tracing::error!(%err, "provider sandbox stopped serving");
    }
    state.mark_stopped();
}

/// Every route: the emulated providers and the admin API.
fn app(state: AppState) -> Router {
    admin::routes()
        .merge(fcm::routes())
        .merge(apns::routes())
        .merge(hooks::routes())
        .merge(stripe::routes())
        .merge(paypal::routes())
        .merge(twilio::routes())
        .merge(smtp::routes())
        .with_state(state)
}

/// `http://{addr}`, a wildcard address reported as loopback, which is where clients reach it.
fn base_url(mut addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        let loopback = match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        addr.set_ip(loopback);
    }
    format!("http://{addr}")
}

/// A running sandbox. Clones share the same server, record and faults.
#[derive(Clone, Debug)]
pub struct SandboxHandle {
    addr: SocketAddr,
    state: AppState,
    fcm_service_account: std::sync::Arc<str>,
    smtp: SmtpListeners,
}

impl SandboxHandle {
    /// The address the sandbox listens on (the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL to configure as the provider's API root, e.g. `http://127.0.0.1:8025`.
    /// A wildcard listen address is reported as loopback, which is where clients can reach it.
    pub fn base_url(&self) -> String {
        base_url(self.addr)
    }

    /// The emulated Twilio account (credentials to give the worker).
    pub fn twilio(&self) -> &TwilioConfig {
        &self.state.twilio
    }

    /// The emulated Firebase project's service-account JSON (configure the push worker with
    /// the same JSON).
    pub fn fcm_service_account(&self) -> &str {
        &self.fcm_service_account
    }

    /// The emulated APNs provider (key, key id, team id, topic to configure the worker with).
    pub fn apns(&self) -> &ApnsConfig {
        &self.state.push.apns
    }

    /// The URL of the emulated Google OAuth token endpoint (`token_uri`).
    pub fn fcm_token_uri(&self) -> String {
        format!("{}/token", self.base_url())
    }

    /// Revokes every FCM access token issued so far: the next `messages:send` with one gets
    /// 401, as after a credential rotation at Google.
    pub fn revoke_fcm_tokens(&self) {
        self.state.push.revoke_all();
    }

    /// The emulated Stripe account (secret key, webhook URL and signing secret).
    pub fn stripe(&self) -> &StripeConfig {
        &self.state.stripe.config
    }

    /// The emulated PayPal app (client credentials, webhook URL and id).
    pub fn paypal(&self) -> &PayPalConfig {
        &self.state.paypal.config
    }

    /// Plays the customer paying Checkout Session `session_id`: completes it, makes a
    /// succeeded payment intent for its `amount_total` and sends `checkout.session.completed`
    /// and `payment_intent.succeeded`. Returns the payment intent's id (`pi_…`).
    pub fn stripe_pay_checkout(&self, session_id: &str) -> Result<String, HookError> {
        stripe::pay(&self.state, session_id)
    }

    /// Stripe refunds made, oldest first, as the refund objects the API returned.
    pub fn stripe_refunds(&self) -> Vec<serde_json::Value> {
        self.state.stripe.ledger.refunds()
    }

    /// Any Stripe object by id (`cs_…`, `pi_…`, `ch_…`, `re_…`, `sub_…`), as it stands now.
    pub fn stripe_object(&self, id: &str) -> Option<serde_json::Value> {
        self.state.stripe.ledger.get(id)
    }

    /// Stripe events emitted, oldest first (whether or not a webhook URL is configured).
    pub fn stripe_events(&self) -> Vec<serde_json::Value> {
        self.state.stripe.ledger.events()
    }

    /// Plays the payer approving PayPal order `order_id`, which is then captured: a
    /// `COMPLETED` capture and `PAYMENT.CAPTURE.COMPLETED`. Returns the capture's id.
    pub fn paypal_capture_order(&self, order_id: &str) -> Result<String, HookError> {
        paypal::capture(&self.state, order_id)
    }

    /// PayPal refunds made, oldest first, as the refund resources the API returned.
    pub fn paypal_refunds(&self) -> Vec<serde_json::Value> {
        self.state.paypal.ledger.refunds()
    }

    /// Any PayPal object by id (order, capture, refund, subscription), as it stands now.
    pub fn paypal_object(&self, id: &str) -> Option<serde_json::Value> {
        self.state.paypal.ledger.get(id)
    }

    /// PayPal webhook events emitted, oldest first (whether or not a webhook URL is set).
    pub fn paypal_events(&self) -> Vec<serde_json::Value> {
        self.state.paypal.ledger.events()
    }

    /// `PAYPAL-CERT-URL` of the webhooks the sandbox signs (it serves the certificate there).
    pub fn paypal_cert_url(&self) -> &str {
        &self.state.paypal.cert_url
    }

    /// The SMTP relays: addresses and `smtp://` URLs to configure the email worker with.
    pub fn smtp(&self) -> &SmtpListeners {
        &self.smtp
    }

    /// Messages the SMTP relays took, in order of receipt.
    pub fn mail(&self) -> Vec<RecordedMail> {
        self.state.mail.all()
    }

    /// Provider requests received, in order of receipt.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.record.requests()
    }

    /// Status callbacks sent and their final outcome, in the order they were settled.
    pub fn callbacks(&self) -> Vec<RecordedCallback> {
        self.state.record.callbacks()
    }

    /// The faults in force (an outage whose time is up is already gone).
    pub fn faults(&self) -> FaultConfig {
        self.state.faults()
    }

    /// Replaces all faults.
    ///
    /// # Panics
    /// If `faults` is invalid (see [`FaultConfig::validate`]): in a test, a fault that
    /// silently does nothing is worse than a loud failure. Use
    /// [`SandboxHandle::try_set_faults`] for faults that come from outside.
    pub fn set_faults(&self, faults: FaultConfig) {
        if let Err(err) = self.try_set_faults(faults) {
            panic!("invalid sandbox faults: {err}");
        }
    }

    /// Replaces all faults, or changes nothing if they are invalid.
    pub fn try_set_faults(&self, faults: FaultConfig) -> Result<(), FaultError> {
        faults.validate()?;
        self.state.set_faults(faults);
        Ok(())
    }

    /// Forgets recorded requests and callbacks, including callbacks of messages accepted
    /// before the clear that are still to come.
    pub fn clear(&self) {
        self.state.record.clear();
        self.state.mail.clear();
    }

    /// Stops accepting connections, lets in-flight requests finish and cancels pending
    /// callbacks. Returns at once and may be called any number of times; await
    /// [`SandboxHandle::stopped`] to know it is done.
    pub fn shutdown(&self) {
        self.state.request_shutdown();
    }

    /// Resolves once the server has stopped serving.
    pub async fn stopped(&self) {
        self.state.stopped().await;
    }

    /// The sandbox's routes over its shared state, to mount in another server.
    pub fn router(&self) -> Router {
        app(self.state.clone())
    }
}
