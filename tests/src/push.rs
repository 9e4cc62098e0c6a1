//! Push helpers for the end-to-end tests: a `[queues.push]` entry with fast policies, a
//! publisher key for `push.`, a push worker against the test's sandbox, and the ERP's side
//! of `push.token_invalidated` (a queue bound to it).

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_broker::{Broker, Publisher};
use switchyard_cli::push::{PushDeps, push_worker};
use switchyard_runtime::RuntimeContext;
use switchyard_store::{DeliveryStatus, Role};
use switchyard_telemetry::Metrics;
use tokio_util::sync::CancellationToken;

use crate::{Harness, WorkerHandle, amqp_url, database_url, sample};

/// `[queues.push]` with the same fast policies as the SMS queue of [`crate::queues_toml`].
pub const PUSH_QUEUE: &str = "[queues.push]\nrouting_keys = [\"push.send\"]\n\
     prefetch = 8\nconcurrency = 4\nhandler_timeout = \"3s\"\ndelivery_limit = 20\nmax_attempts = 5\n\
     retry_base = \"100ms\"\nretry_tiers = [\"100ms\", \"200ms\", \"400ms\"]\n\
     rate_limit = { per_second = 1000, burst = 1000 }\n\
     circuit_breaker = { consecutive_failures = 3, open_for = \"300ms\", open_max = \"600ms\" }\n";

/// A harness whose topology has the push queue, and a publisher key scoped to `push.`.
pub async fn start() -> (Harness, String) {
    let h = Harness::start_with(&amqp_url(), &database_url(), PUSH_QUEUE).await;
    let scopes = ["push.".to_owned()];
    let (_, key) = h
        .store
        .create_api_key(&format!("{}-push", h.namespace), Role::Publisher, &scopes)
        .await
        .expect("push key");
    (h, key)
}

impl Harness {
    /// Starts a push worker (FCM and APNs pointing at this test's sandbox) with its own
    /// broker connection.
    pub async fn start_push_worker(&self) -> WorkerHandle {
        let metrics = Metrics::new();
        let broker = Broker::connect(&amqp_url(), self.topology(), "test-push", metrics.clone())
            .await
            .expect("worker broker");
        let publisher = Publisher::new(broker.clone(), Duration::from_secs(5));
        let ctx = RuntimeContext {
            broker: broker.clone(),
            publisher: publisher.clone(),
            store: self.store.clone(),
            metrics: metrics.clone(),
            shutdown_grace: Duration::from_secs(5),
            depth_interval: Duration::from_millis(200),
        };
        let deps = PushDeps {
            sandbox: Some(&self.sandbox),
            store: self.store.clone(),
            metrics: metrics.clone(),
            publisher,
            exchange: broker.topology().main_exchange(),
        };
        let worker = push_worker(&self.run, deps).expect("push worker");
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            switchyard_runtime::run(worker, ctx, token)
                .await
                .expect("push worker runs");
        });
        WorkerHandle {
            shutdown,
            task,
            broker,
            metrics,
        }
    }

    /// Posts a `push.send` with `payload` (tenant = the test's namespace).
    pub async fn send_push(&self, key: &str, id: &str, payload: Value) -> reqwest::Response {
        let message =
            json!({"id": id, "type": "push.send", "tenant": self.namespace, "payload": payload});
        self.http
            .post(format!("{}/v1/messages", self.ingress()))
            .bearer_auth(key)
            .json(&message)
            .send()
            .await
            .expect("ingress answers")
    }

    /// The push delivery status of `message_id`, if recorded.
    pub async fn push_status(&self, message_id: &str) -> Option<DeliveryStatus> {
        self.store
            .delivery("push", message_id)
            .await
            .expect("store")
            .map(|d| d.status)
    }

    /// Sandbox requests to FCM's `messages:send` and APNs, i.e. push attempts (probes too).
    pub fn push_requests(&self) -> Vec<switchyard_sandbox::RecordedRequest> {
        self.sandbox
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/messages:send") || r.path.starts_with("/3/device/"))
            .collect()
    }

    /// Declares the ERP's queue for `push.token_invalidated` on `broker`'s connection
    /// (exclusive: it goes away with the connection) and returns its name.
    pub async fn bind_token_events(&self, broker: &Broker) -> String {
        let channel = broker.channel().await.expect("channel");
        let queue = format!("{}.erp.push-events", self.namespace);
        let options = lapin::options::QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        };
        channel
            .queue_declare(queue.as_str().into(), options, Default::default())
            .await
            .expect("declare");
        channel
            .queue_bind(
                queue.as_str().into(),
                broker.topology().main_exchange().as_str().into(),
                "push.token_invalidated".into(),
                Default::default(),
                Default::default(),
            )
            .await
            .expect("bind");
        queue
    }
}

/// `switchyard_messages_finished_total` of the push worker for `outcome`.
pub fn finished(metrics: &Metrics, outcome: &str) -> f64 {
    sample(
        metrics,
        &format!(
            "switchyard_messages_finished_total{{integration=\"push\",outcome=\"{outcome}\"}}"
        ),
    )
}
