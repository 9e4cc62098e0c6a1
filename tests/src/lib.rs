//! The end-to-end test harness: each test gets its own RabbitMQ namespace (random queue and
//! exchange names), its own provider sandbox, an ingress on a free port, and workers it can
//! start, stop gracefully or kill — all against the real local RabbitMQ and Postgres.

pub mod email;
pub mod fault_world;
pub mod proxy;
pub mod push;
pub mod tap;
pub mod throwaway;
pub mod webhooks;

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_broker::{Broker, Publisher, QueuesConfig, Topology};
use switchyard_cli::components::{self, Component, Running};
use switchyard_cli::settings::{RunSettings, Settings};
use switchyard_runtime::RuntimeContext;
use switchyard_sandbox::SandboxHandle;
use switchyard_store::{DeliveryStatus, Role, Store};
use switchyard_telemetry::Metrics;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use proxy::Proxy;

/// RabbitMQ for tests.
pub fn amqp_url() -> String {
    std::env::var("SWITCHYARD_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Postgres for tests.
pub fn database_url() -> String {
    std::env::var("SWITCHYARD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Fast policies so retries and breaker periods take milliseconds.
pub fn queues_toml(namespace: &str, extra: &str) -> String {
    format!(
        "namespace = \"{namespace}\"\n[queues.sms]\nrouting_keys = [\"sms.send\", \"sms.status\"]\n\
         prefetch = 8\nconcurrency = 4\nhandler_timeout = \"3s\"\ndelivery_limit = 20\nmax_attempts = 5\n\
         retry_base = \"100ms\"\nretry_tiers = [\"100ms\", \"200ms\", \"400ms\"]\n\
         rate_limit = {{ per_second = 1000, burst = 1000 }}\n\
         circuit_breaker = {{ consecutive_failures = 3, open_for = \"300ms\", open_max = \"600ms\" }}\n{extra}"
    )
}

/// One test's world.
pub struct Harness {
    /// Namespace of every queue and exchange of this test.
    pub namespace: String,
    /// The sandbox standing in for Twilio.
    pub sandbox: SandboxHandle,
    /// The store (test database).
    pub store: Store,
    /// The running ingress (and its metrics).
    pub running: Running,
    /// A publisher key scoped to `sms.`.
    pub token: String,
    /// Settings the components were started with.
    pub settings: Settings,
    /// Run settings the components were started with.
    pub run: RunSettings,
    /// HTTP client.
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    queues_file: PathBuf,
}

/// A worker started by a test, with its own broker connection (so it can be killed alone).
pub struct WorkerHandle {
    /// Cancel for a graceful stop.
    pub shutdown: CancellationToken,
    /// The worker's task.
    pub task: JoinHandle<()>,
    /// The worker's own connection.
    pub broker: Broker,
    /// The worker's metrics.
    pub metrics: Metrics,
}

impl WorkerHandle {
    /// Graceful stop: in-flight work finishes.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
        self.broker.close().await;
    }

    /// Like `kill -9`: the task is dropped wherever it is and the connection closed, so the
    /// broker requeues whatever was unacked.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
        self.broker.close().await;
    }
}

impl Harness {
    /// Starts the sandbox and the ingress for a fresh namespace.
    pub async fn start() -> Harness {
        Self::start_with(&amqp_url(), &database_url(), "").await
    }

    /// Like [`start`](Self::start) with other broker/database URLs (e.g. through a [`Proxy`])
    /// and extra `queues.toml` text.
    pub async fn start_with(amqp: &str, database: &str, extra_toml: &str) -> Harness {
        Self::start_components(
            amqp,
            database,
            extra_toml,
            BTreeSet::from([Component::Ingress]),
        )
        .await
    }

    /// Like [`start_with`](Self::start_with), running `components` (the ingress must be one).
    pub async fn start_components(
        amqp: &str,
        database: &str,
        extra_toml: &str,
        components: BTreeSet<Component>,
    ) -> Harness {
        Self::start_full(amqp, database, extra_toml, components, None).await
    }

    /// Like [`Harness::start_components`], with the ingress also serving webhooks: the
    /// sandbox sends its Stripe and PayPal webhooks to this ingress's `/webhooks/stripe` and
    /// `/webhooks/paypal`, and `webhooks` writes the ingress's webhooks file given the
    /// running sandbox (whose certificate URL a PayPal source must allow).
    pub async fn start_with_webhooks(
        extra_toml: &str,
        components: BTreeSet<Component>,
        webhooks: fn(&SandboxHandle) -> String,
    ) -> Harness {
        Self::start_full(
            &amqp_url(),
            &database_url(),
            extra_toml,
            components,
            Some(webhooks),
        )
        .await
    }

    async fn start_full(
        amqp: &str,
        database: &str,
        extra_toml: &str,
        components: BTreeSet<Component>,
        webhooks: Option<fn(&SandboxHandle) -> String>,
    ) -> Harness {
        // SWITCHYARD_TEST_LOG=debug shows what the components do while a test runs.
        if let Ok(filter) = std::env::var("SWITCHYARD_TEST_LOG") {
            switchyard_telemetry::logging::init(false, &filter);
        }
        let namespace = format!("t{}", uuid::Uuid::new_v4().simple());
        let queues_file = std::env::temp_dir().join(format!("{namespace}.toml"));
        std::fs::write(&queues_file, queues_toml(&namespace, extra_toml))
            .expect("write queues file");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let mut sandbox_config = switchyard_sandbox::SandboxConfig::ephemeral();
        if webhooks.is_some() {
            let to = |source| Some(format!("http://127.0.0.1:{port}/webhooks/{source}"));
            sandbox_config.stripe.webhook_url = to("stripe");
            sandbox_config.paypal.webhook_url = to("paypal");
        }
        let sandbox = switchyard_sandbox::start(sandbox_config)
            .await
            .expect("sandbox");
        let settings = Settings {
            amqp_url: amqp.into(),
            database_url: database.into(),
            queues: queues_file.clone(),
            log: "warn".into(),
            log_json: false,
            dlq_keys: format!(
                "{namespace}:{}",
                switchyard_store::dead_letters::PayloadCipher::generate_key()
            ),
        };
        let mut run = run_settings(port, &sandbox);
        if let Some(webhooks) = webhooks {
            let file = std::env::temp_dir().join(format!("{namespace}.webhooks.toml"));
            std::fs::write(&file, webhooks(&sandbox)).expect("write webhooks file");
            run.webhooks = Some(file);
        }
        let shutdown = CancellationToken::new();
        let running = components::start(&components, &settings, &run, shutdown.clone())
            .await
            .expect("components start");
        let store = Store::connect(&database_url(), 4).await.expect("store");
        let scopes = ["sms.".to_owned()];
        let (_, token) = store
            .create_api_key(&format!("{namespace}-publisher"), Role::Publisher, &scopes)
            .await
            .expect("key");
        Harness {
            namespace,
            sandbox,
            store,
            running,
            token,
            settings,
            run,
            http: reqwest::Client::new(),
            shutdown,
            queues_file,
        }
    }

    /// The ingress base URL.
    pub fn ingress(&self) -> String {
        format!("http://{}", self.running.ingress.expect("ingress runs"))
    }

    /// The topology of this test.
    pub fn topology(&self) -> Topology {
        Topology::new(QueuesConfig::load(&self.queues_file).expect("queues file"))
    }

    /// Starts an SMS worker with its own connection to `amqp`.
    pub async fn start_worker_via(&self, amqp: &str) -> WorkerHandle {
        self.start_worker_custom(amqp, self.store.clone(), &self.run)
            .await
    }

    /// Starts an SMS worker with its own broker connection, the given store (e.g. through a
    /// [`Proxy`]) and run settings (e.g. other Twilio credentials).
    pub async fn start_worker_custom(
        &self,
        amqp: &str,
        store: Store,
        run: &RunSettings,
    ) -> WorkerHandle {
        let metrics = Metrics::new();
        let broker = Broker::connect(amqp, self.topology(), "test-worker", metrics.clone())
            .await
            .expect("worker broker");
        let ctx = RuntimeContext {
            broker: broker.clone(),
            publisher: Publisher::new(broker.clone(), Duration::from_secs(5)),
            store: store.clone(),
            metrics: metrics.clone(),
            shutdown_grace: Duration::from_secs(5),
            depth_interval: Duration::from_millis(200),
        };
        let worker = components::sms_worker(run, None, store, metrics.clone()).expect("sms worker");
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            switchyard_runtime::run(worker, ctx, token)
                .await
                .expect("worker runs");
        });
        WorkerHandle {
            shutdown,
            task,
            broker,
            metrics,
        }
    }

    /// Starts an SMS worker on the test broker.
    pub async fn start_worker(&self) -> WorkerHandle {
        self.start_worker_via(&amqp_url()).await
    }

    /// Posts one SMS to the ingress.
    pub async fn send_sms(&self, id: &str, to: &str, body: &str) -> reqwest::Response {
        // The tenant scopes what this test sees among rows other tests write in parallel.
        let message = json!({ "id": id, "type": "sms.send", "tenant": self.namespace, "payload": { "to": to, "body": body } });
        self.post("/v1/messages", &message).await
    }

    /// Posts JSON with the publisher key.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.ingress()))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("ingress answers")
    }

    /// The delivery status of `message_id`, if recorded.
    pub async fn status(&self, message_id: &str) -> Option<DeliveryStatus> {
        self.store
            .delivery("sms", message_id)
            .await
            .expect("store")
            .map(|d| d.status)
    }

    /// Sandbox message requests whose Body is `body`.
    pub fn sends_with_body(&self, body: &str) -> usize {
        self.sandbox
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/Messages.json") && r.form_value("Body") == Some(body))
            .count()
    }

    /// Messages ready in this test's queue `suffix` (`sms`, `sms.dead`).
    pub async fn depth(&self, broker: &Broker, suffix: &str) -> u32 {
        broker
            .queue_depth(&format!("{}.{suffix}", self.namespace))
            .await
            .expect("depth")
    }

    /// Deletes this test's queues and exchanges and stops its components.
    pub async fn finish(self) {
        self.shutdown.cancel();
        self.sandbox.shutdown();
        let topology = self.topology();
        let _ = std::fs::remove_file(&self.queues_file);
        if let Some(webhooks) = &self.run.webhooks {
            let _ = std::fs::remove_file(webhooks);
        }
        delete_topology(&topology).await;
    }
}

fn run_settings(port: u16, sandbox: &SandboxHandle) -> RunSettings {
    RunSettings {
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        metrics_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        public_url: format!("http://127.0.0.1:{port}"),
        body_limit: 64 * 1024,
        key_cache_secs: 5,
        webhooks: None,
        twilio_base_url: Some(sandbox.base_url()),
        twilio_account_sid: switchyard_sandbox::DEFAULT_ACCOUNT_SID.into(),
        twilio_auth_token: switchyard_sandbox::DEFAULT_AUTH_TOKEN.into(),
        sms_from: "+15005550006".into(),
        sms_messaging_service_sid: None,
        templates: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../templates")),
        sandbox_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        shutdown_grace_secs: 5,
        provider_timeout_secs: 5,
        sandbox_public_url: None,
        push: Default::default(),
        payments: payments_settings(sandbox),
        email: Default::default(),
    }
}

/// Removes every queue and exchange of `topology`, so tests leave nothing behind.
pub async fn delete_topology(topology: &Topology) {
    let _ = tokio::time::timeout(Duration::from_secs(20), delete_topology_now(topology)).await;
}

async fn delete_topology_now(topology: &Topology) {
    let Ok(connection) =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default()).await
    else {
        return;
    };
    let Ok(channel) = connection.create_channel().await else {
        return;
    };
    for queue in topology.all_queues() {
        let _ = channel
            .queue_delete(
                queue.as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await;
    }
    for exchange in [topology.main_exchange(), topology.dead_letter_exchange()] {
        let _ = channel
            .exchange_delete(
                exchange.as_str().into(),
                lapin::options::ExchangeDeleteOptions::default(),
            )
            .await;
    }
    let _ = connection.close(200, "test done".into()).await;
}

/// Polls `check` every 50 ms until it returns true; panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fresh unique message id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The value of the metric sample whose line starts with `series` (name and labels as
/// exposed, e.g. `switchyard_messages_finished_total{integration="sms",outcome="duplicate"}`);
/// 0 when absent.
pub fn sample(metrics: &Metrics, series: &str) -> f64 {
    metrics
        .encode()
        .lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

/// `switchyard_messages_finished_total` of the SMS worker for `outcome`.
pub fn finished(metrics: &Metrics, outcome: &str) -> f64 {
    sample(
        metrics,
        &format!("switchyard_messages_finished_total{{integration=\"sms\",outcome=\"{outcome}\"}}"),
    )
}

/// A message taken from a parking queue.
pub struct Parked {
    /// AMQP headers.
    pub headers: lapin::types::FieldTable,
    /// The body, as published.
    pub body: Vec<u8>,
}

impl Parked {
    /// A text header.
    pub fn header(&self, name: &str) -> Option<String> {
        switchyard_broker::properties::get_text(&self.headers, name)
    }
}

/// Takes every message currently in `queue` (acknowledging them).
pub async fn drain_queue(broker: &Broker, queue: &str) -> Vec<Parked> {
    let channel = broker.channel().await.expect("channel");
    let mut out = Vec::new();
    let options = lapin::options::BasicGetOptions { no_ack: true };
    while let Ok(Some(message)) = channel.basic_get(queue.into(), options).await {
        let delivery = message.delivery;
        out.push(Parked {
            headers: delivery.properties.headers().clone().unwrap_or_default(),
            body: delivery.data,
        });
    }
    out
}

/// Stripe and PayPal at the sandbox, with its credentials.
fn payments_settings(sandbox: &SandboxHandle) -> switchyard_cli::payments::PaymentsSettings {
    let defaults = switchyard_sandbox::SandboxConfig::default();
    switchyard_cli::payments::PaymentsSettings {
        stripe_base_url: Some(sandbox.base_url()),
        stripe_secret_key: Some(defaults.stripe.secret_key),
        paypal_base_url: Some(sandbox.base_url()),
        paypal_client_id: Some(defaults.paypal.client_id),
        paypal_client_secret: Some(defaults.paypal.client_secret),
    }
}
