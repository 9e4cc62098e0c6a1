//! How a sandbox is set up: where it listens, which provider credentials it accepts (Twilio
//! here; Stripe and PayPal in their own modules), and the faults it starts with.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::faults::FaultConfig;

/// The account SID the sandbox accepts unless configured otherwise.
///
/// Workers running with no credentials default to this value so they talk to the sandbox
/// out of the box; it is deliberately not a valid hex SID so it can never match a real account.
pub const DEFAULT_ACCOUNT_SID: &str = "ACsandbox00000000000000000000000000";

/// The auth token the sandbox accepts (and signs status callbacks with) unless configured.
pub const DEFAULT_AUTH_TOKEN: &str = "sandbox-auth-token";

/// The port the sandbox listens on by default; tests use port 0 instead.
pub const DEFAULT_PORT: u16 = 8025;

/// Everything [`crate::start`] needs to run a sandbox.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Address to listen on; `127.0.0.1:0` picks a free port (read it back with
    /// [`crate::SandboxHandle::addr`]).
    pub listen: SocketAddr,
    /// The URL others reach the sandbox at, in what it hands out (PayPal's certificate URL,
    /// payment page links): `http://sandbox:8025` in a container network. `None`: its own
    /// listen address, as loopback when it listens on every interface.
    pub public_url: Option<String>,
    /// The emulated Twilio account.
    pub twilio: TwilioConfig,
    /// The emulated Firebase project (FCM HTTP v1 and its OAuth token endpoint).
    pub fcm: FcmConfig,
    /// The emulated APNs provider (HTTP/2).
    pub apns: ApnsConfig,
    /// The emulated SMTP relays.
    pub smtp: crate::smtp::SmtpConfig,
    /// The emulated Stripe account.
    pub stripe: crate::stripe::StripeConfig,
    /// The emulated PayPal REST app.
    pub paypal: crate::paypal::PayPalConfig,
    /// Faults active from the start; change them later with
    /// [`crate::SandboxHandle::set_faults`] or `PUT /_sandbox/faults`.
    pub faults: FaultConfig,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            public_url: None,
            twilio: TwilioConfig::default(),
            fcm: FcmConfig::default(),
            apns: ApnsConfig::default(),
            smtp: crate::smtp::SmtpConfig::default(),
            stripe: crate::stripe::StripeConfig::default(),
            paypal: crate::paypal::PayPalConfig::default(),
            faults: FaultConfig::default(),
        }
    }
}

impl SandboxConfig {
    /// The default configuration on `127.0.0.1:0`: a free port, as tests want.
    pub fn ephemeral() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            smtp: crate::smtp::SmtpConfig::ephemeral(),
            ..Self::default()
        }
    }
}

/// The emulated Twilio account: the credentials requests must carry and the pacing of the
/// status callbacks.
#[derive(Clone)]
pub struct TwilioConfig {
    /// Account SID: the Basic auth user name and the `{AccountSid}` in every path.
    pub account_sid: String,
    /// Auth token: the Basic auth password and the key of `X-Twilio-Signature`.
    pub auth_token: String,
    /// Wait before each status callback, so a worker sees the same "created first, status
    /// later" ordering it sees with real Twilio.
    pub callback_delay: Duration,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        Self {
            account_sid: DEFAULT_ACCOUNT_SID.to_owned(),
            auth_token: DEFAULT_AUTH_TOKEN.to_owned(),
            callback_delay: Duration::from_millis(50),
        }
    }
}

/// Masks the token: configs end up in logs, and the habit should hold even for a fake secret.
impl fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"***")
            .field("callback_delay", &self.callback_delay)
            .finish()
    }
}

/// The sandbox-only service account (`testdata/`): not secret, valid nowhere else.
pub const SANDBOX_SERVICE_ACCOUNT: &str = include_str!("../testdata/fcm-service-account.json");
/// The sandbox-only APNs key (`testdata/`): not secret, valid nowhere else.
pub const SANDBOX_APNS_KEY: &str = include_str!("../testdata/apns-sandbox.p8");

/// The emulated Firebase project: the service account whose JWT assertions the token
/// endpoint accepts, and how long the access tokens it issues live.
#[derive(Clone)]
pub struct FcmConfig {
    /// The service-account JSON (the worker is configured with the same file). Its
    /// `project_id` is the project `messages:send` accepts; its key verifies assertions.
    pub service_account_json: String,
    /// `expires_in` of issued access tokens; the sandbox refuses them afterwards (401).
    pub token_ttl: Duration,
}

impl Default for FcmConfig {
    fn default() -> Self {
        Self {
            service_account_json: SANDBOX_SERVICE_ACCOUNT.to_owned(),
            token_ttl: Duration::from_secs(3600),
        }
    }
}

/// Masks the key inside the JSON.
impl fmt::Debug for FcmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FcmConfig")
            .field("service_account_json", &"***")
            .field("token_ttl", &self.token_ttl)
            .finish()
    }
}

/// The emulated APNs provider: the key provider tokens must be signed with, its ids, and the
/// app's topic.
#[derive(Clone)]
pub struct ApnsConfig {
    /// The `.p8` key (PKCS#8 PEM, P-256) the worker signs with; the sandbox verifies against
    /// its public half.
    pub key_pem: String,
    /// The key id provider tokens must name (`kid`).
    pub key_id: String,
    /// The team id provider tokens must name (`iss`).
    pub team_id: String,
    /// The only `apns-topic` (bundle id) accepted.
    pub topic: String,
}

impl Default for ApnsConfig {
    fn default() -> Self {
        Self {
            key_pem: SANDBOX_APNS_KEY.to_owned(),
            key_id: "SANDBOXKEY".to_owned(),
            team_id: "SANDBOXTM1".to_owned(),
            topic: "org.switchyard.sandbox".to_owned(),
        }
    }
}

/// Masks the key.
impl fmt::Debug for ApnsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApnsConfig")
            .field("key_pem", &"***")
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .field("topic", &self.topic)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_what_credential_free_workers_assume() {
        let config = SandboxConfig::default();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8025");
        assert_eq!(config.twilio.account_sid, DEFAULT_ACCOUNT_SID);
        assert_eq!(config.twilio.auth_token, "sandbox-auth-token");
        assert_eq!(config.twilio.callback_delay, Duration::from_millis(50));
        assert_eq!(config.faults, FaultConfig::default());
        assert_eq!(config.stripe.secret_key, "sk_test_sandbox");
        assert_eq!(config.stripe.webhook_secret, "whsec_sandbox");
        assert_eq!(config.paypal.client_id, "sandbox-paypal-client");
        assert_eq!(config.paypal.webhook_id, "WH-SANDBOX");
        assert!(config.stripe.webhook_url.is_none() && config.paypal.webhook_url.is_none());
    }

    #[test]
    fn debug_masks_the_auth_token() {
        let debug = format!("{:?}", TwilioConfig::default());
        assert!(
            !debug.contains(DEFAULT_AUTH_TOKEN) && debug.contains("***"),
            "{debug}"
        );
    }

    #[test]
    fn ephemeral_listens_on_a_free_port() {
        assert_eq!(SandboxConfig::ephemeral().listen.port(), 0);
    }
}
