//! Starting components in one process: any subset of the ingress, each worker, and the
//! provider sandbox, sharing one broker connection, one database pool and one metrics registry.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use switchyard_broker::{Broker, Publisher, QueuesConfig, Topology};
use switchyard_contract::Worker;
use switchyard_runtime::RuntimeContext;
use switchyard_sandbox::SandboxHandle;
use switchyard_sms::{SmsSettings, SmsWorker, Templates, Twilio, TwilioConfig};
use switchyard_store::Store;
use switchyard_store::dead_letters::PayloadCipher;
use switchyard_telemetry::{Metrics, ReadinessCheck};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::settings::{RunSettings, Settings};

/// Every worker this binary can run, by its integration name. A test checks this list
/// against the shipped `queues.toml`.
pub const WORKERS: &[&str] = &[
    SmsWorker::NAME,
    switchyard_push::PushWorker::NAME,
    switchyard_email::EmailWorker::NAME,
    switchyard_payments::PaymentsWorker::NAME,
    switchyard_payments::PaymentCommandsWorker::NAME,
];

/// A component `switchyard run` can start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    /// The HTTP ingress.
    Ingress,
    /// The SMS worker.
    Sms,
    /// The push worker (FCM, APNs).
    Push,
    /// The email worker.
    Email,
    /// The payments workers (Stripe, PayPal webhooks → ERP events; the ERP's payment
    /// commands → Stripe, PayPal).
    Payments,
    /// The provider sandbox.
    Sandbox,
    /// The dead-letter ingester (parking queues → Postgres).
    DeadLetters,
}

impl FromStr for Component {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ingress" => Ok(Component::Ingress),
            "sms" => Ok(Component::Sms),
            "push" => Ok(Component::Push),
            "email" => Ok(Component::Email),
            "payments" => Ok(Component::Payments),
            "sandbox" => Ok(Component::Sandbox),
            "dead-letters" => Ok(Component::DeadLetters),
            other => Err(format!(
                "unknown component `{other}`; choose from: all, ingress, sms, push, email, payments, dead-letters, sandbox"
            )),
        }
    }
}

/// Expands `all` (everything, plus the sandbox when no real Twilio URL is configured).
pub fn expand(names: &[String], run: &RunSettings) -> Result<BTreeSet<Component>, String> {
    let mut set = BTreeSet::new();
    for name in names {
        if name == "all" {
            set.extend([Component::Ingress, Component::Sms, Component::DeadLetters]);
            set.insert(Component::Email);
            set.insert(Component::Push);
            set.insert(Component::Payments);
            if run.push.uses_sandbox() || run.payments.uses_sandbox() {
                set.insert(Component::Sandbox);
            }
            if run.twilio_base_url.is_none() || run.email.smtp_url.is_none() {
                set.insert(Component::Sandbox);
            }
        } else {
            set.insert(name.parse()?);
        }
    }
    Ok(set)
}

/// What is running, for tests and for the start-up banner.
pub struct Running {
    /// The ingress address, if it runs.
    pub ingress: Option<SocketAddr>,
    /// The operator endpoints' address.
    pub metrics: SocketAddr,
    /// The sandbox, if it runs.
    pub sandbox: Option<SandboxHandle>,
    /// The process metrics.
    pub metrics_registry: Metrics,
    /// Component tasks; they end after `shutdown` is cancelled.
    pub tasks: JoinSet<anyhow::Result<()>>,
}

/// Starts `components`. Fails fast, with what to do, when the broker or database is
/// unreachable or the topology does not match.
pub async fn start(
    components: &BTreeSet<Component>,
    settings: &Settings,
    run: &RunSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let metrics = Metrics::new();
    let mut tasks = JoinSet::new();
    let sandbox = start_sandbox(components, run).await?;
    let topology = Topology::new(QueuesConfig::load(&settings.queues)?);
    let broker =
        Broker::connect(&settings.amqp_url, topology, "switchyard", metrics.clone()).await?;
    let store = Store::connect(&settings.database_url, 16).await?;
    tracing::debug!(components = ?components, "starting");
    store
        .migrate()
        .await
        .context("running database migrations")?;
    let publisher = Publisher::new(broker.clone(), Duration::from_secs(5));
    let workbench = workbench(settings, &store, &publisher, &metrics)?;
    if components.contains(&Component::DeadLetters) {
        let ingester = switchyard_admin::Ingester {
            broker: broker.clone(),
            store: store.clone(),
            cipher: workbench.cipher.clone(),
            metrics: metrics.clone(),
        };
        let token = shutdown.clone();
        tasks.spawn(async move {
            ingester.run(token).await;
            Ok(())
        });
    }
    let mut ingress = None;
    if components.contains(&Component::Ingress) {
        let state = switchyard_ingress::AppState {
            publisher: publisher.clone(),
            store: store.clone(),
            metrics: metrics.clone(),
            config: Arc::new(switchyard_ingress::IngressConfig {
                public_base_url: run.public_url.clone(),
                twilio_auth_token: run.twilio_auth_token.clone(),
                body_limit: run.body_limit,
                webhooks: Arc::new(webhook_sources(run)?),
            }),
            key_cache: Arc::new(switchyard_ingress::key_cache::KeyCache::new(
                Duration::from_secs(run.key_cache_secs),
            )),
        };
        let admin = switchyard_admin::api::router(workbench.clone());
        let app = switchyard_ingress::router(state, admin);
        let (addr, handle) = switchyard_ingress::serve(run.listen, app, shutdown.clone())
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (is another process using it? set --listen)",
                    run.listen
                )
            })?;
        tasks.spawn(async move { handle.await.context("ingress task") });
        ingress = Some(addr);
    }
    // What every worker shares: one connection, one confirm channel, one pool, one registry.
    let worker_ctx = RuntimeContext {
        broker: broker.clone(),
        publisher: publisher.clone(),
        store: store.clone(),
        metrics: metrics.clone(),
        shutdown_grace: run.shutdown_grace(),
        depth_interval: Duration::from_secs(5),
    };
    if components.contains(&Component::Sms) {
        let ctx = worker_ctx.clone();
        let worker = sms_worker(run, sandbox.as_ref(), store.clone(), metrics.clone())?;
        let token = shutdown.clone();
        tasks.spawn(async move { Ok(switchyard_runtime::run(worker, ctx, token).await?) });
    }
    if components.contains(&Component::Email) {
        let ctx = worker_ctx.clone();
        let timeout = Duration::from_secs(run.provider_timeout_secs);
        let worker = crate::email::email_worker(
            &run.email,
            &run.templates,
            timeout,
            sandbox.as_ref(),
            store.clone(),
        )?
        .with_fan_out(switchyard_email::FanOut::new(
            publisher.clone(),
            broker.topology().main_exchange(),
        ));
        let token = shutdown.clone();
        tasks.spawn(async move { Ok(switchyard_runtime::run(worker, ctx, token).await?) });
    }
    if components.contains(&Component::Push) {
        let ctx = worker_ctx.clone();
        let deps = crate::push::PushDeps {
            sandbox: sandbox.as_ref(),
            store: store.clone(),
            metrics: metrics.clone(),
            publisher: publisher.clone(),
            exchange: broker.topology().main_exchange(),
        };
        let worker = crate::push::push_worker(run, deps)?;
        let token = shutdown.clone();
        tasks.spawn(async move { Ok(switchyard_runtime::run(worker, ctx, token).await?) });
    }
    if components.contains(&Component::Payments) {
        let ctx = worker_ctx.clone();
        let worker = payments_worker(&broker, &publisher, store.clone(), metrics.clone());
        let token = shutdown.clone();
        tasks.spawn(async move { Ok(switchyard_runtime::run(worker, ctx, token).await?) });
        let ctx = worker_ctx.clone();
        let events = switchyard_payments::ErpEvents::new(
            publisher.clone(),
            broker.topology().main_exchange(),
        );
        let worker =
            crate::payments::commands_worker(run, sandbox.as_ref(), events, store.clone())?;
        let token = shutdown.clone();
        tasks.spawn(async move { Ok(switchyard_runtime::run(worker, ctx, token).await?) });
    }
    let checks = readiness_checks(broker, store);
    let metrics_addr = switchyard_telemetry::serve(run.metrics_listen, metrics.clone(), checks)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (set --metrics-listen)",
                run.metrics_listen
            )
        })?;
    Ok(Running {
        ingress,
        metrics: metrics_addr,
        sandbox,
        metrics_registry: metrics,
        tasks,
    })
}

/// The dead-letter operations, with the payload cipher from `SWITCHYARD_DLQ_KEYS`.
pub fn workbench(
    settings: &Settings,
    store: &Store,
    publisher: &Publisher,
    metrics: &Metrics,
) -> anyhow::Result<switchyard_admin::Workbench> {
    let cipher = PayloadCipher::parse(&settings.dlq_keys).context("SWITCHYARD_DLQ_KEYS")?;
    if settings.dlq_keys == crate::settings::DEV_DLQ_KEYS {
        tracing::warn!(
            "parked payloads are encrypted with the public development key; set SWITCHYARD_DLQ_KEYS in production"
        );
    }
    Ok(switchyard_admin::Workbench {
        store: store.clone(),
        publisher: publisher.clone(),
        cipher: Arc::new(cipher),
        metrics: metrics.clone(),
    })
}

async fn start_sandbox(
    components: &BTreeSet<Component>,
    run: &RunSettings,
) -> anyhow::Result<Option<SandboxHandle>> {
    if !components.contains(&Component::Sandbox) {
        return Ok(None);
    }
    let mut config = switchyard_sandbox::SandboxConfig {
        listen: run.sandbox_listen,
        public_url: run.sandbox_public_url.clone(),
        ..Default::default()
    };
    config.twilio.account_sid = run.twilio_account_sid.clone();
    config.twilio.auth_token = run.twilio_auth_token.clone();
    // With webhook sources configured, the sandbox calls the ingress back like Stripe and
    // PayPal would (signed with its own secrets; webhooks.example.toml accepts them).
    if run.webhooks.is_some() {
        let public = run.public_url.trim_end_matches('/');
        config.stripe.webhook_url = Some(format!("{public}/webhooks/stripe"));
        config.paypal.webhook_url = Some(format!("{public}/webhooks/paypal"));
    }
    // A sandbox on a free port (tests) gets its SMTP relays on free ports too; otherwise the
    // relays listen on the sandbox's address, so a worker in another container reaches them.
    if run.sandbox_listen.port() == 0 {
        config.smtp = switchyard_sandbox::SmtpConfig::ephemeral();
    } else {
        let ip = run.sandbox_listen.ip();
        config.smtp.primary.set_ip(ip);
        if let Some(secondary) = config.smtp.secondary.as_mut() {
            secondary.set_ip(ip);
        }
    }
    Ok(Some(switchyard_sandbox::start(config).await?))
}

/// Builds the SMS worker from the run settings (the sandbox, when no Twilio URL is set).
pub fn sms_worker(
    run: &RunSettings,
    sandbox: Option<&SandboxHandle>,
    store: Store,
    metrics: Metrics,
) -> anyhow::Result<SmsWorker> {
    let base_url = match (&run.twilio_base_url, sandbox) {
        (Some(url), _) => url.clone(),
        (None, Some(sandbox)) => sandbox.base_url(),
        (None, None) => anyhow::bail!(
            "the SMS worker needs a Twilio URL: set SWITCHYARD_TWILIO_BASE_URL (https://api.twilio.com in production) or also run the `sandbox` component"
        ),
    };
    let twilio = Twilio::new(
        TwilioConfig {
            base_url,
            account_sid: run.twilio_account_sid.clone(),
            auth_token: run.twilio_auth_token.clone(),
        },
        switchyard_runtime::http::client(Duration::from_secs(run.provider_timeout_secs)),
        metrics,
    );
    let templates =
        Templates::load(&run.templates).map_err(|e| anyhow::anyhow!("templates: {e}"))?;
    let settings = SmsSettings {
        default_from: Some(run.sms_from.clone()),
        messaging_service_sid: run.sms_messaging_service_sid.clone(),
        status_callback_url: Some(format!(
            "{}/webhooks/twilio/status",
            run.public_url.trim_end_matches('/')
        )),
    };
    Ok(SmsWorker::new(twilio, templates, settings, store))
}

/// Builds the payments worker: ERP events go to the main exchange.
pub fn payments_worker(
    broker: &Broker,
    publisher: &Publisher,
    store: Store,
    metrics: Metrics,
) -> switchyard_payments::PaymentsWorker {
    let events =
        switchyard_payments::ErpEvents::new(publisher.clone(), broker.topology().main_exchange());
    switchyard_payments::PaymentsWorker::new(store, events, metrics)
}

fn readiness_checks(broker: Broker, store: Store) -> Vec<ReadinessCheck> {
    let broker_check: ReadinessCheck = (
        "rabbitmq",
        Arc::new(move || {
            let broker = broker.clone();
            Box::pin(async move {
                if broker.is_connected() {
                    Ok(())
                } else {
                    Err("not connected; reconnecting".into())
                }
            })
        }),
    );
    let store_check: ReadinessCheck = (
        "postgres",
        Arc::new(move || {
            let store = store.clone();
            Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
        }),
    );
    vec![broker_check, store_check]
}

/// The webhooks file's sources; none when no file is configured.
fn webhook_sources(
    run: &RunSettings,
) -> anyhow::Result<switchyard_ingress::webhooks::config::Sources> {
    let Some(path) = &run.webhooks else {
        return Ok(Default::default());
    };
    let sources = switchyard_ingress::webhooks::config::Sources::load(path)
        .context("loading the webhooks file (SWITCHYARD_WEBHOOKS)")?;
    tracing::info!(sources = sources.len(), path = %path.display(), "webhook sources loaded");
    Ok(sources)
}
