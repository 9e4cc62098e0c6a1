//! The runtime's promises, checked with a minimal worker so that every failure mode can be
//! forced: a panicking handler is parked and the worker keeps going; retryable errors are parked
//! once attempts run out; a handler that overruns its timeout with a side effect is retried
//! only through reconciliation (its outcome is unknown), never blindly repeated; the standard
//! metrics move.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use switchyard_broker::properties as props;
use switchyard_broker::{Broker, Publisher};
use switchyard_contract::{Classify, DeliveryContext, Done, Envelope, Failure, Worker};
use switchyard_e2e::{Harness, amqp_url, drain_queue, eventually, new_id, sample};
use switchyard_runtime::RuntimeContext;
use switchyard_telemetry::Metrics;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Deserialize)]
#[serde(tag = "type", content = "payload")]
enum EchoJob {
    #[serde(rename = "echo.run")]
    Run { mode: String },
}

#[derive(Debug, thiserror::Error)]
enum EchoError {
    #[error("echo: transient")]
    Transient,
}

impl Classify for EchoError {
    fn classify(&self) -> Failure {
        match self {
            EchoError::Transient => Failure::Retryable {
                code: "echo_transient",
                retry_after: None,
            },
        }
    }
}

#[derive(Clone, Default)]
struct Echo {
    handled: Arc<Mutex<Vec<String>>>,
    /// Ids whose slow handler began (its side effect may have happened).
    slow_started: Arc<Mutex<Vec<String>>>,
    /// Ids that reconciliation found already done.
    reconciled: Arc<Mutex<Vec<String>>>,
    /// How often the runtime asked about a job whose question panics (outside the handler).
    panicked_outside: Arc<Mutex<usize>>,
}

impl Worker for Echo {
    const NAME: &'static str = "echo";
    type Job = EchoJob;
    type Error = EchoError;

    async fn handle(&self, job: EchoJob, ctx: &DeliveryContext) -> Result<Done, EchoError> {
        let EchoJob::Run { mode } = job;
        match mode.as_str() {
            "panic" => panic!("handler bug for {}", ctx.message_id),
            "transient" => Err(EchoError::Transient),
            "slow" => {
                self.slow_started
                    .lock()
                    .unwrap()
                    .push(ctx.message_id.clone());
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(Done::default())
            }
            _ => {
                self.handled.lock().unwrap().push(ctx.message_id.clone());
                Ok(Done::default())
            }
        }
    }

    fn has_side_effect(&self, job: &EchoJob) -> bool {
        let EchoJob::Run { mode } = job;
        if mode == "panic-outside-handler" {
            *self.panicked_outside.lock().unwrap() += 1;
            panic!("bug outside the handler");
        }
        true
    }

    async fn reconcile(
        &self,
        _: &EchoJob,
        ctx: &DeliveryContext,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Done>, EchoError> {
        if self.slow_started.lock().unwrap().contains(&ctx.message_id) {
            self.reconciled.lock().unwrap().push(ctx.message_id.clone());
            return Ok(Some(Done::default()));
        }
        Ok(None)
    }

    async fn probe(&self) -> Result<(), EchoError> {
        Ok(())
    }
}

const ECHO_QUEUE: &str = "[queues.echo]\nrouting_keys = [\"echo.run\"]\nprefetch = 4\nconcurrency = 2\n\
    handler_timeout = \"300ms\"\nmax_attempts = 3\nretry_base = \"50ms\"\nretry_tiers = [\"50ms\", \"100ms\"]\n\
    circuit_breaker = { consecutive_failures = 100, open_for = \"1s\", open_max = \"1s\" }\n";

struct Setup {
    harness: Harness,
    broker: Broker,
    publisher: Publisher,
    metrics: Metrics,
    echo: Echo,
    shutdown: CancellationToken,
}

async fn setup() -> Setup {
    setup_with("").await
}

async fn setup_with(extra_policy: &str) -> Setup {
    let toml = format!("{ECHO_QUEUE}{extra_policy}");
    let harness = Harness::start_with(&amqp_url(), &switchyard_e2e::database_url(), &toml).await;
    let metrics = Metrics::new();
    let broker = Broker::connect(&amqp_url(), harness.topology(), "echo", metrics.clone())
        .await
        .unwrap();
    let publisher = Publisher::new(broker.clone(), Duration::from_secs(5));
    let ctx = RuntimeContext {
        broker: broker.clone(),
        publisher: publisher.clone(),
        store: harness.store.clone(),
        metrics: metrics.clone(),
        shutdown_grace: Duration::from_secs(2),
        depth_interval: Duration::from_secs(1),
    };
    let echo = Echo::default();
    let shutdown = CancellationToken::new();
    tokio::spawn(switchyard_runtime::run(echo.clone(), ctx, shutdown.clone()));
    Setup {
        harness,
        broker,
        publisher,
        metrics,
        echo,
        shutdown,
    }
}

impl Setup {
    async fn publish(&self, mode: &str) -> String {
        let id = new_id();
        let envelope = Envelope {
            id: id.clone(),
            message_type: "echo.run".into(),
            tenant: None,
            occurred_at: chrono::Utc::now(),
            correlation_id: None,
            causation_id: None,
            idempotency_key: None,
            payload: json!({ "mode": mode }),
        };
        let body = serde_json::to_vec(&envelope).unwrap();
        let exchange = self.harness.topology().main_exchange();
        let properties = props::for_envelope(&id, "echo.run", None);
        self.publisher
            .publish(&exchange, "echo.run", &body, properties, true)
            .await
            .unwrap();
        id
    }

    /// Publishes an ordinary message and waits until the handler has had it.
    async fn next_message_is_handled(&self) {
        let after = self.publish("ok").await;
        eventually(
            Duration::from_secs(10),
            "the next message handled",
            || async { self.echo.handled.lock().unwrap().contains(&after) },
        )
        .await;
    }

    fn dead(&self) -> String {
        format!("{}.echo.dead", self.harness.namespace)
    }

    async fn finish(self) {
        self.shutdown.cancel();
        self.broker.close().await;
        self.harness.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_handler_is_parked_and_the_worker_keeps_going() {
    let s = setup().await;
    s.publish("panic").await;
    s.next_message_is_handled().await;
    eventually(Duration::from_secs(5), "panic parked", || async {
        s.broker.queue_depth(&s.dead()).await.unwrap() == 1
    })
    .await;
    let parked = drain_queue(&s.broker, &s.dead()).await;
    assert_eq!(
        parked[0].header(props::ERROR_CODE).as_deref(),
        Some("handler_panicked")
    );
    assert!(
        parked[0]
            .header(props::REASON)
            .unwrap()
            .contains("handler bug")
    );
    s.finish().await;
}

/// Only the handler runs inside `catch_unwind`. A panic elsewhere kills the delivery's task
/// before it settles the delivery; the runtime must notice and close the channel so the broker
/// gets the delivery back (and parks it once `delivery_limit` redeliveries are used up), instead
/// of leaving it unacked — invisible, never delivered — for as long as the channel lives.
#[tokio::test(flavor = "multi_thread")]
async fn a_panic_outside_the_handler_returns_the_delivery_to_the_broker() {
    let s = setup_with("delivery_limit = 2\n").await;
    s.publish("panic-outside-handler").await;
    s.next_message_is_handled().await;
    eventually(
        Duration::from_secs(10),
        "the broker parks it after its delivery limit",
        || async { s.broker.queue_depth(&s.dead()).await.unwrap() == 1 },
    )
    .await;
    // Delivered once and redelivered up to the limit: each attempt reached the runtime.
    assert_eq!(*s.echo.panicked_outside.lock().unwrap(), 3);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retryable_errors_are_parked_when_attempts_run_out() {
    let s = setup().await;
    let id = s.publish("transient").await;
    eventually(Duration::from_secs(10), "parked", || async {
        s.broker.queue_depth(&s.dead()).await.unwrap() == 1
    })
    .await;
    let parked = drain_queue(&s.broker, &s.dead()).await;
    assert_eq!(
        parked[0].header(props::ERROR_CLASS).as_deref(),
        Some("retryable")
    );
    assert_eq!(
        props::get_u32(&parked[0].headers, "x-switchyard-attempts"),
        Some(3)
    );
    let outcomes: Vec<String> = s
        .harness
        .store
        .attempts(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(outcomes, vec!["retried", "retried", "parked"]);
    let m = &s.metrics;
    assert_eq!(
        sample(
            m,
            "switchyard_messages_received_total{integration=\"echo\"}"
        ),
        3.0
    );
    assert_eq!(
        sample(
            m,
            "switchyard_messages_finished_total{integration=\"echo\",outcome=\"retried\"}"
        ),
        2.0
    );
    assert_eq!(
        sample(
            m,
            "switchyard_messages_finished_total{integration=\"echo\",outcome=\"parked\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            m,
            "switchyard_errors_total{integration=\"echo\",class=\"retryable\",code=\"echo_transient\"}"
        ),
        3.0
    );
    assert_eq!(
        sample(
            m,
            "switchyard_handler_duration_seconds_count{integration=\"echo\"}"
        ),
        3.0
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limit_spaces_provider_calls() {
    // 20/s with a burst of 1: ten messages need at least ~450 ms, whatever the concurrency.
    let s = setup_with("rate_limit = { per_second = 20, burst = 1 }\n").await;
    let started = std::time::Instant::now();
    for _ in 0..10 {
        s.publish("ok").await;
    }
    eventually(Duration::from_secs(10), "all handled", || async {
        s.echo.handled.lock().unwrap().len() == 10
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "10 calls at 20/s took {:?}",
        started.elapsed()
    );
    assert!(
        sample(
            &s.metrics,
            "switchyard_rate_limit_waits_total{integration=\"echo\"}"
        ) >= 8.0
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timed_out_side_effect_is_reconciled_not_repeated() {
    let s = setup().await;
    s.publish("slow").await;
    eventually(Duration::from_secs(10), "reconciled", || async {
        s.echo.reconciled.lock().unwrap().len() == 1
    })
    .await;
    assert_eq!(
        s.echo.slow_started.lock().unwrap().len(),
        1,
        "the handler ran once; the retry asked the provider instead of acting again"
    );
    assert_eq!(s.broker.queue_depth(&s.dead()).await.unwrap(), 0);
    eventually(Duration::from_secs(5), "counted", || async {
        sample(
            &s.metrics,
            "switchyard_messages_finished_total{integration=\"echo\",outcome=\"succeeded\"}",
        ) == 1.0
    })
    .await;
    s.finish().await;
}
