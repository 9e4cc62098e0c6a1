//! The email worker's settings (`SWITCHYARD_SMTP_*`, `SWITCHYARD_EMAIL_*`) and how the worker
//! is built from them: the relay URLs, or the sandbox's relays when no URL is set and the
//! sandbox runs.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use switchyard_email::{
    EmailSettings, EmailWorker, FailoverPolicy, Mailbox, Relay, RelayConfig, RelayRole, Relays,
    Tenants,
};
use switchyard_sandbox::SandboxHandle;
use switchyard_sms::Templates;
use switchyard_store::Store;
use switchyard_telemetry::mask;

/// Settings of the email worker.
#[derive(Args, Clone, Debug)]
pub struct EmailRunSettings {
    /// SMTP relay: `smtp://user:pass@host:port?tls=starttls|implicit|none` (STARTTLS on 587 by
    /// default). Unset: the sandbox's primary relay (then the sandbox must run too).
    #[arg(long, env = "SWITCHYARD_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// Failover SMTP relay, same form. Unset with the sandbox: the sandbox's secondary relay;
    /// unset otherwise: no failover.
    #[arg(long, env = "SWITCHYARD_SMTP_FAILOVER_URL", hide_env_values = true)]
    pub smtp_failover_url: Option<String>,

    /// Default sender, `Name <address>` or an address; its domain also names the Message-IDs.
    #[arg(
        long,
        env = "SWITCHYARD_SMTP_FROM",
        default_value = "Switchyard <noreply@switchyard.localhost>"
    )]
    pub smtp_from: String,

    /// Consecutive relay failures that mark a relay down (its messages go to the other one).
    #[arg(long, env = "SWITCHYARD_SMTP_FAILOVER_AFTER", default_value_t = 3)]
    pub smtp_failover_after: u32,

    /// Seconds a relay marked down is left alone before it is tried again.
    #[arg(long, env = "SWITCHYARD_SMTP_FAILOVER_COOLDOWN", default_value_t = 30)]
    pub smtp_failover_cooldown_secs: u64,

    /// Per-tenant `from` / `reply_to` (TOML, `[tenants.<id>]`; see workers/email/src/tenants.rs).
    #[arg(long, env = "SWITCHYARD_EMAIL_TENANTS")]
    pub email_tenants: Option<PathBuf>,

    /// Largest total of decoded attachment bytes per email.
    #[arg(long, env = "SWITCHYARD_EMAIL_ATTACHMENT_LIMIT", default_value_t = switchyard_email::DEFAULT_ATTACHMENT_LIMIT)]
    pub email_attachment_limit: usize,
}

impl Default for EmailRunSettings {
    fn default() -> Self {
        EmailRunSettings {
            smtp_url: None,
            smtp_failover_url: None,
            smtp_from: "Switchyard <noreply@switchyard.localhost>".into(),
            smtp_failover_after: 3,
            smtp_failover_cooldown_secs: 30,
            email_tenants: None,
            email_attachment_limit: switchyard_email::DEFAULT_ATTACHMENT_LIMIT,
        }
    }
}

/// Builds the email worker. `timeout` bounds each SMTP transaction.
pub fn email_worker(
    settings: &EmailRunSettings,
    templates: &std::path::Path,
    timeout: Duration,
    sandbox: Option<&SandboxHandle>,
    store: Store,
) -> anyhow::Result<EmailWorker> {
    let (primary, secondary) = match (&settings.smtp_url, sandbox) {
        (Some(url), _) => (url.clone(), settings.smtp_failover_url.clone()),
        (None, Some(sandbox)) => (
            sandbox.smtp().primary_url(),
            settings
                .smtp_failover_url
                .clone()
                .or_else(|| sandbox.smtp().secondary_url()),
        ),
        (None, None) => anyhow::bail!(
            "the email worker needs an SMTP relay: set SWITCHYARD_SMTP_URL (smtp://user:pass@host:587) or also run the `sandbox` component"
        ),
    };
    let default_from: Mailbox = settings.smtp_from.parse().with_context(|| {
        format!(
            "SWITCHYARD_SMTP_FROM {:?} is not `Name <address>` or an address",
            settings.smtp_from
        )
    })?;
    let hello = default_from.email.domain().to_owned();
    let relay = |role: RelayRole, url: &str| -> anyhow::Result<Relay> {
        let config = RelayConfig::parse(url)?;
        tracing::info!(relay = role.as_str(), url = %mask::url(url), "SMTP relay");
        Ok(Relay::new(role, config, &hello, timeout))
    };
    let primary = relay(RelayRole::Primary, &primary)?;
    let secondary = secondary
        .map(|url| relay(RelayRole::Secondary, &url))
        .transpose()?;
    let policy = FailoverPolicy {
        threshold: settings.smtp_failover_after.max(1),
        cooldown: Duration::from_secs(settings.smtp_failover_cooldown_secs),
    };
    let tenants = match &settings.email_tenants {
        Some(path) => Tenants::load(path)?,
        None => Tenants::default(),
    };
    let templates = Templates::load(templates).map_err(|e| anyhow::anyhow!("templates: {e}"))?;
    let email = EmailSettings {
        default_from,
        tenants,
        attachment_limit: settings.email_attachment_limit,
    };
    Ok(EmailWorker::new(
        Relays::new(primary, secondary, policy),
        templates,
        email,
        store,
    ))
}
