//! Process settings: every flag has a `SWITCHYARD_*` environment variable and a default that
//! works on a laptop with local RabbitMQ and Postgres and the provider sandbox.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// The development payload key (base64 of "switchyard-dev-key-not-for-prod!"). Public, so
/// it protects nothing: start-up warns when it is in use.
pub const DEV_DLQ_KEYS: &str = "dev:c3dpdGNoeWFyZC1kZXYta2V5LW5vdC1mb3ItcHJvZCE=";

/// Connections and listeners shared by every command.
#[derive(Args, Clone, Debug)]
pub struct Settings {
    /// RabbitMQ URL.
    #[arg(
        long,
        env = "SWITCHYARD_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        global = true
    )]
    pub amqp_url: String,

    /// PostgreSQL URL.
    #[arg(
        long,
        env = "SWITCHYARD_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/switchyard",
        global = true
    )]
    pub database_url: String,

    /// The topology and per-integration policies.
    #[arg(
        long,
        env = "SWITCHYARD_QUEUES",
        default_value = "queues.toml",
        global = true
    )]
    pub queues: PathBuf,

    /// Log filter, `RUST_LOG` syntax (e.g. `info,switchyard_runtime=debug`). lapin is kept to
    /// errors: its warning for a returned (unroutable) message prints the whole body, personal
    /// data included, and Switchyard reports those itself.
    #[arg(
        long,
        env = "SWITCHYARD_LOG",
        default_value = "info,lapin=error,tower_http=warn",
        global = true
    )]
    pub log: String,

    /// Keys encrypting parked payloads at rest: `id:BASE64(32 bytes)[,id:KEY…]`; the first
    /// encrypts, all decrypt (rotate by putting a new key first). The default is a public
    /// development key: set your own in production (`openssl rand -base64 32`).
    #[arg(long, env = "SWITCHYARD_DLQ_KEYS", default_value = DEV_DLQ_KEYS, hide_default_value = true, global = true)]
    pub dlq_keys: String,

    /// Log JSON lines (for production log shippers) instead of human-readable text.
    #[arg(long, env = "SWITCHYARD_LOG_JSON", global = true)]
    pub log_json: bool,
}

/// Settings of `switchyard run`.
#[derive(Args, Clone, Debug)]
pub struct RunSettings {
    /// Where the ingress listens.
    #[arg(long, env = "SWITCHYARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    #[arg(
        long,
        env = "SWITCHYARD_METRICS_LISTEN",
        default_value = "127.0.0.1:9464"
    )]
    pub metrics_listen: SocketAddr,

    /// The URL providers use to reach the ingress (status callbacks are sent to, and signed
    /// for, this URL). Behind a proxy, the proxy's public URL.
    #[arg(
        long,
        env = "SWITCHYARD_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,

    /// Seconds an authenticated publisher key is remembered by the ingress (saves a database
    /// round trip per message; a revoked key keeps working at most this long). 0 disables it.
    #[arg(long, env = "SWITCHYARD_KEY_CACHE_SECS", default_value_t = 5)]
    pub key_cache_secs: u64,

    /// Largest request body the ingress accepts, in bytes.
    #[arg(long, env = "SWITCHYARD_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,

    /// The webhooks file: the sources `POST /webhooks/<name>[/<tenant>]` accepts, with their
    /// provider kind and secrets (see `webhooks.example.toml`). Unset: no webhook source.
    #[arg(long, env = "SWITCHYARD_WEBHOOKS")]
    pub webhooks: Option<PathBuf>,

    /// Twilio API base URL. Unset: the embedded provider sandbox is started and used.
    #[arg(long, env = "SWITCHYARD_TWILIO_BASE_URL")]
    pub twilio_base_url: Option<String>,

    /// Twilio Account SID (defaults to the sandbox's).
    #[arg(long, env = "SWITCHYARD_TWILIO_ACCOUNT_SID", default_value = switchyard_sandbox::DEFAULT_ACCOUNT_SID)]
    pub twilio_account_sid: String,

    /// Twilio auth token (defaults to the sandbox's). Secret: prefer the environment variable.
    #[arg(long, env = "SWITCHYARD_TWILIO_AUTH_TOKEN", default_value = switchyard_sandbox::DEFAULT_AUTH_TOKEN, hide_default_value = true)]
    pub twilio_auth_token: String,

    /// Default SMS sender (E.164 number or alphanumeric id).
    #[arg(long, env = "SWITCHYARD_SMS_FROM", default_value = "+15005550006")]
    pub sms_from: String,

    /// Default Twilio Messaging Service SID, used when no sender is given.
    #[arg(long, env = "SWITCHYARD_SMS_MESSAGING_SERVICE_SID")]
    pub sms_messaging_service_sid: Option<String>,

    /// Directory of message templates (`sms/<name>.txt`).
    #[arg(long, env = "SWITCHYARD_TEMPLATES", default_value = "templates")]
    pub templates: PathBuf,

    /// Where the embedded provider sandbox listens (when it runs).
    #[arg(
        long,
        env = "SWITCHYARD_SANDBOX_LISTEN",
        default_value = "127.0.0.1:8025"
    )]
    pub sandbox_listen: SocketAddr,

    /// The URL other processes reach the embedded sandbox at, in what it hands out (PayPal's
    /// certificate URL, payment page links): `http://sandbox:8025` in a container network.
    /// Unset: its listen address.
    #[arg(long, env = "SWITCHYARD_SANDBOX_PUBLIC_URL")]
    pub sandbox_public_url: Option<String>,

    /// Seconds in-flight work may take to finish after SIGTERM before it is left for
    /// redelivery. Match Kubernetes' terminationGracePeriodSeconds (minus a margin).
    #[arg(long, env = "SWITCHYARD_SHUTDOWN_GRACE", default_value_t = 25)]
    pub shutdown_grace_secs: u64,

    /// Timeout of each provider HTTP request, seconds.
    #[arg(long, env = "SWITCHYARD_PROVIDER_TIMEOUT", default_value_t = 10)]
    pub provider_timeout_secs: u64,

    /// FCM and APNs (the push worker).
    #[command(flatten)]
    pub push: crate::push::PushSettings,

    /// Stripe and PayPal (the payment-commands worker).
    #[command(flatten)]
    pub payments: crate::payments::PaymentsSettings,

    /// The email worker's relays, sender and limits.
    #[command(flatten)]
    pub email: crate::email::EmailRunSettings,
}

impl RunSettings {
    /// The shutdown grace period.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}
