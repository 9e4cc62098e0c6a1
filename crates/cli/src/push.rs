//! The push worker's settings and wiring: FCM and APNs each point at the real provider when
//! its base URL is set, else at the embedded sandbox (with its sandbox-only credentials) when
//! the sandbox runs. A platform with neither is not configured, and its pushes park.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use switchyard_broker::Publisher;
use switchyard_push::{
    Apns, ApnsConfig, Fcm, FcmConfig, Invalidations, PushWorker, ServiceAccount, Templates,
};
use switchyard_sandbox::SandboxHandle;
use switchyard_store::Store;
use switchyard_telemetry::Metrics;

use crate::settings::RunSettings;

/// FCM and APNs settings of `switchyard run`.
#[derive(Args, Clone, Debug, Default)]
pub struct PushSettings {
    /// FCM API base URL (`https://fcm.googleapis.com` in production). Unset: the sandbox's.
    #[arg(long, env = "SWITCHYARD_FCM_BASE_URL")]
    pub fcm_base_url: Option<String>,

    /// Overrides the OAuth token URI of the service account (`token_uri`).
    #[arg(long, env = "SWITCHYARD_FCM_TOKEN_URI")]
    pub fcm_token_uri: Option<String>,

    /// Path of the Firebase service-account JSON file (secret). Required with a real FCM URL.
    #[arg(long, env = "SWITCHYARD_FCM_SERVICE_ACCOUNT")]
    pub fcm_service_account: Option<PathBuf>,

    /// APNs base URL (`https://api.push.apple.com`, or `https://api.sandbox.push.apple.com`
    /// for development builds). Unset: the provider sandbox's.
    #[arg(long, env = "SWITCHYARD_APNS_BASE_URL")]
    pub apns_base_url: Option<String>,

    /// Path of the APNs auth key (`AuthKey_XXXXXXXXXX.p8`, secret). Required with a real URL.
    #[arg(long, env = "SWITCHYARD_APNS_KEY")]
    pub apns_key: Option<PathBuf>,

    /// The APNs key's id (10 characters).
    #[arg(long, env = "SWITCHYARD_APNS_KEY_ID")]
    pub apns_key_id: Option<String>,

    /// The Apple developer team id.
    #[arg(long, env = "SWITCHYARD_APNS_TEAM_ID")]
    pub apns_team_id: Option<String>,

    /// The app's bundle id (`apns-topic`).
    #[arg(long, env = "SWITCHYARD_APNS_TOPIC")]
    pub apns_topic: Option<String>,
}

impl PushSettings {
    /// Whether any provider is left to the sandbox (so `run all` starts it).
    pub fn uses_sandbox(&self) -> bool {
        self.fcm_base_url.is_none() || self.apns_base_url.is_none()
    }
}

/// What the push worker needs from the process besides the settings.
pub struct PushDeps<'a> {
    /// The sandbox, if it runs in this process.
    pub sandbox: Option<&'a SandboxHandle>,
    /// Delivery log and invalid tokens.
    pub store: Store,
    /// Process metrics.
    pub metrics: Metrics,
    /// For `push.token_invalidated` events.
    pub publisher: Publisher,
    /// The main exchange the events go to.
    pub exchange: String,
}

/// Builds the push worker from the run settings.
pub fn push_worker(run: &RunSettings, deps: PushDeps<'_>) -> anyhow::Result<PushWorker> {
    let timeout = Duration::from_secs(run.provider_timeout_secs);
    let settings = &run.push;
    let fcm = fcm_config(settings, deps.sandbox)?
        .map(|config| {
            let client = switchyard_runtime::http::client(timeout);
            Fcm::new(config, client, deps.metrics.clone())
        })
        .transpose()
        .context("FCM")?;
    let apns = apns_config(settings, deps.sandbox)?
        .map(|config| Apns::new(config, timeout, deps.metrics.clone()))
        .transpose()
        .context("APNs")?;
    match (&fcm, &apns) {
        (None, None) => bail!(
            "the push worker needs FCM or APNs: set SWITCHYARD_FCM_BASE_URL or SWITCHYARD_APNS_BASE_URL, or also run the `sandbox` component"
        ),
        (None, Some(_)) => {
            tracing::warn!("FCM is not configured: android and web pushes will park")
        }
        (Some(_), None) => tracing::warn!("APNs is not configured: ios pushes will park"),
        (Some(_), Some(_)) => {}
    }
    let templates =
        Templates::load(&run.templates).map_err(|e| anyhow::anyhow!("templates: {e}"))?;
    let invalidations = Invalidations::new(deps.store.clone(), deps.publisher, deps.exchange);
    Ok(PushWorker::new(
        fcm,
        apns,
        templates,
        invalidations,
        deps.store,
    ))
}

fn fcm_config(
    settings: &PushSettings,
    sandbox: Option<&SandboxHandle>,
) -> anyhow::Result<Option<FcmConfig>> {
    let (base_url, json, default_token_uri) = match (&settings.fcm_base_url, sandbox) {
        (Some(url), _) => {
            let Some(path) = &settings.fcm_service_account else {
                bail!(
                    "SWITCHYARD_FCM_BASE_URL is set but SWITCHYARD_FCM_SERVICE_ACCOUNT (the service-account JSON file) is not"
                );
            };
            (
                url.clone(),
                read(path, "SWITCHYARD_FCM_SERVICE_ACCOUNT")?,
                None,
            )
        }
        (None, Some(sandbox)) => (
            sandbox.base_url(),
            sandbox.fcm_service_account().to_owned(),
            Some(sandbox.fcm_token_uri()),
        ),
        (None, None) => return Ok(None),
    };
    let service_account = ServiceAccount::from_json(&json)?;
    Ok(Some(FcmConfig {
        base_url,
        service_account,
        token_uri: settings.fcm_token_uri.clone().or(default_token_uri),
    }))
}

fn apns_config(
    settings: &PushSettings,
    sandbox: Option<&SandboxHandle>,
) -> anyhow::Result<Option<ApnsConfig>> {
    let token_refresh = switchyard_push::apns::DEFAULT_REFRESH;
    match (&settings.apns_base_url, sandbox) {
        (Some(url), _) => {
            let required = |value: &Option<String>, name: &str| {
                value
                    .clone()
                    .with_context(|| format!("SWITCHYARD_APNS_BASE_URL is set but {name} is not"))
            };
            let Some(key) = &settings.apns_key else {
                bail!(
                    "SWITCHYARD_APNS_BASE_URL is set but SWITCHYARD_APNS_KEY (the .p8 file) is not"
                );
            };
            Ok(Some(ApnsConfig {
                base_url: url.clone(),
                key_pem: read(key, "SWITCHYARD_APNS_KEY")?,
                key_id: required(&settings.apns_key_id, "SWITCHYARD_APNS_KEY_ID")?,
                team_id: required(&settings.apns_team_id, "SWITCHYARD_APNS_TEAM_ID")?,
                topic: required(&settings.apns_topic, "SWITCHYARD_APNS_TOPIC")?,
                token_refresh,
            }))
        }
        (None, Some(sandbox)) => {
            let emulated = sandbox.apns();
            Ok(Some(ApnsConfig {
                base_url: sandbox.base_url(),
                key_pem: emulated.key_pem.clone(),
                key_id: emulated.key_id.clone(),
                team_id: emulated.team_id.clone(),
                topic: emulated.topic.clone(),
                token_refresh,
            }))
        }
        (None, None) => Ok(None),
    }
}

/// Reads a credential file, naming the variable (never the content) when it fails.
fn read(path: &Path, variable: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("{variable}: cannot read {}", path.display()))
}
