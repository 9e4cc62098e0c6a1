//! Email helpers for the end-to-end tests: an `[queues.email]` with fast policies, a publisher
//! key scoped to `email.`, and an email worker pointed at the sandbox's SMTP relays.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_broker::{Broker, Publisher};
use switchyard_cli::components::{self, Component, Running};
use switchyard_cli::email::EmailRunSettings;
use switchyard_email::FanOut;
use switchyard_runtime::RuntimeContext;
use switchyard_store::{DeliveryStatus, Role};
use switchyard_telemetry::Metrics;
use tokio_util::sync::CancellationToken;

use crate::{Harness, WorkerHandle, amqp_url, database_url, sample};

/// `[queues.email]` with the same fast policies as the SMS queue of [`crate::queues_toml`].
pub const EMAIL_QUEUE: &str = "[queues.email]\nrouting_keys = [\"email.send\", \"email.bulk\"]\n\
     prefetch = 8\nconcurrency = 4\nhandler_timeout = \"5s\"\ndelivery_limit = 20\nmax_attempts = 5\n\
     retry_base = \"100ms\"\nretry_tiers = [\"100ms\", \"200ms\", \"400ms\"]\n\
     rate_limit = { per_second = 1000, burst = 1000 }\n\
     circuit_breaker = { consecutive_failures = 3, open_for = \"300ms\", open_max = \"600ms\" }\n";

/// A harness with an email queue, and a publisher key for `email.`.
pub struct EmailHarness {
    /// The harness (sandbox, ingress, store).
    pub h: Harness,
    /// Bearer token scoped to `email.`.
    pub token: String,
}

impl EmailHarness {
    /// Starts the sandbox and ingress with an email queue.
    pub async fn start() -> EmailHarness {
        let h = Harness::start_with(&amqp_url(), &database_url(), EMAIL_QUEUE).await;
        let scopes = ["email.".to_owned()];
        let (_, token) = h
            .store
            .create_api_key(&format!("{}-email", h.namespace), Role::Publisher, &scopes)
            .await
            .expect("key");
        EmailHarness { h, token }
    }

    /// Settings pointing at the sandbox's primary relay only, failing over after 2 faults.
    pub fn settings(&self) -> EmailRunSettings {
        EmailRunSettings {
            smtp_url: Some(self.h.sandbox.smtp().primary_url()),
            smtp_failover_after: 2,
            smtp_failover_cooldown_secs: 60,
            smtp_from: "Greenfield School <office@greenfield.example>".into(),
            ..EmailRunSettings::default()
        }
    }

    /// The sandbox's secondary relay URL.
    pub fn secondary_url(&self) -> String {
        self.h
            .sandbox
            .smtp()
            .secondary_url()
            .expect("secondary relay")
    }

    /// Starts an email worker with its own broker connection and `settings`.
    pub async fn start_worker(&self, settings: &EmailRunSettings) -> WorkerHandle {
        let metrics = Metrics::new();
        let broker = Broker::connect(
            &amqp_url(),
            self.h.topology(),
            "test-email",
            metrics.clone(),
        )
        .await
        .expect("worker broker");
        let publisher = Publisher::new(broker.clone(), Duration::from_secs(5));
        let fan_out = FanOut::new(publisher.clone(), broker.topology().main_exchange());
        let ctx = RuntimeContext {
            broker: broker.clone(),
            publisher,
            store: self.h.store.clone(),
            metrics: metrics.clone(),
            shutdown_grace: Duration::from_secs(5),
            depth_interval: Duration::from_millis(200),
        };
        let timeout = Duration::from_secs(2);
        let worker = switchyard_cli::email::email_worker(
            settings,
            &self.h.run.templates,
            timeout,
            None,
            self.h.store.clone(),
        )
        .expect("email worker")
        .with_fan_out(fan_out);
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

    /// Posts `email.send` with `payload` and message id `id` to `ingress`.
    pub async fn post_to(&self, ingress: &str, id: &str, payload: Value) -> reqwest::Response {
        self.post_type_to(ingress, "email.send", id, payload).await
    }

    /// Posts a message of type `message_type` to `ingress`.
    pub async fn post_type_to(
        &self,
        ingress: &str,
        message_type: &str,
        id: &str,
        payload: Value,
    ) -> reqwest::Response {
        let message = json!({ "id": id, "type": message_type, "tenant": self.h.namespace, "payload": payload });
        self.h
            .http
            .post(format!("{ingress}/v1/messages"))
            .bearer_auth(&self.token)
            .json(&message)
            .send()
            .await
            .expect("ingress answers")
    }

    /// Posts `email.send` to the harness's ingress.
    pub async fn post(&self, id: &str, payload: Value) -> reqwest::Response {
        self.post_to(&self.h.ingress(), id, payload).await
    }

    /// Starts a second ingress on this namespace with a larger body limit (the harness's is
    /// 64 KiB, too small to reach the schema's attachment limit).
    pub async fn big_ingress(&self, body_limit: usize) -> (Running, CancellationToken) {
        let mut run = self.h.run.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        run.listen = listener.local_addr().expect("addr");
        drop(listener);
        run.metrics_listen = ([127, 0, 0, 1], 0).into();
        run.body_limit = body_limit;
        let shutdown = CancellationToken::new();
        let components = BTreeSet::from([Component::Ingress]);
        let running = components::start(&components, &self.h.settings, &run, shutdown.clone())
            .await
            .expect("second ingress");
        (running, shutdown)
    }

    /// The email delivery status of `id`, if recorded.
    pub async fn status(&self, id: &str) -> Option<DeliveryStatus> {
        self.h
            .store
            .delivery("email", id)
            .await
            .expect("store")
            .map(|d| d.status)
    }

    /// Recorded mail whose Subject is `subject`.
    pub fn mail_with_subject(&self, subject: &str) -> Vec<switchyard_sandbox::RecordedMail> {
        self.h
            .sandbox
            .mail()
            .into_iter()
            .filter(|m| m.header("Subject") == Some(subject))
            .collect()
    }
}

/// `switchyard_messages_finished_total` of the email worker for `outcome`.
pub fn finished(metrics: &Metrics, outcome: &str) -> f64 {
    sample(
        metrics,
        &format!(
            "switchyard_messages_finished_total{{integration=\"email\",outcome=\"{outcome}\"}}"
        ),
    )
}
