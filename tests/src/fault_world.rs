//! One fault-injection scenario's world: its own RabbitMQ node and Postgres cluster
//! ([`crate::throwaway`]), the provider sandbox, an ingress, and SMS workers as real
//! `switchyard run sms` processes that can be SIGKILLed and restarted. Publishers post through
//! the ingress the way a client should (retrying 503s and refused connections); the report
//! counts from the sandbox's request record and the delivery log what reached the provider.

use std::collections::{BTreeSet, HashMap};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use switchyard_broker::{Broker, Publisher, QueuesConfig, Topology};
use switchyard_cli::components::{self, Component, Running};
use switchyard_cli::settings::{RunSettings, Settings};
use switchyard_contract::Worker;
use switchyard_runtime::RuntimeContext;
use switchyard_sandbox::SandboxHandle;
use switchyard_store::{DeliveryStatus, Role, Store};
use switchyard_telemetry::Metrics;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::throwaway::{PgCluster, RabbitNode};

/// The SMS queue of every scenario: a 1 s handler timeout (the slow-provider scenario needs
/// it; the others never come near it), attempts enough to outlast a 20 s outage, short tiers.
const QUEUES: &str = r#"namespace = "fault"
[queues.sms]
routing_keys = ["sms.send", "sms.status"]
prefetch = 32
concurrency = 16
handler_timeout = "1s"
delivery_limit = 200
max_attempts = 200
retry_base = "200ms"
retry_tiers = ["200ms", "1s", "3s"]
rate_limit = { per_second = 5000, burst = 500 }
circuit_breaker = { consecutive_failures = 5, open_for = "1s", open_max = "4s" }
"#;

/// A worker process and the address of its `/metrics`.
struct WorkerProcess {
    child: Child,
    metrics: Option<String>,
}

/// A scenario that fails (panics) must not leave its workers running: they would retry a
/// throwaway node that no longer exists for as long as the machine is up.
impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one scenario did to the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Messages the publishers got a 202 for.
    pub sent: usize,
    /// Of those, how many reached the provider (a 201 in the sandbox record) and are recorded
    /// as handed over in the delivery log.
    pub delivered: usize,
    /// Messages the provider created more than once.
    pub duplicated: usize,
    /// Messages in the parking queue.
    pub parked: usize,
}

/// How the publishers fared.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// The ids of every message, accepted or not.
    pub ids: Vec<String>,
    /// Messages accepted (202).
    pub accepted: usize,
    /// Answers that told the client to come back later (503) or refused connections.
    pub unavailable: usize,
}

/// One scenario's world.
pub struct FaultWorld {
    /// The scenario's name, in message bodies and the report line.
    pub name: String,
    /// The throwaway RabbitMQ node.
    pub rabbit: RabbitNode,
    /// The throwaway Postgres cluster.
    pub postgres: PgCluster,
    /// The provider sandbox (in this process, so it outlives any worker).
    pub sandbox: SandboxHandle,
    /// The store, on the throwaway cluster.
    pub store: Store,
    /// A connection of the test's own to the throwaway node (it reconnects by itself).
    pub broker: Broker,
    topology: Topology,
    node_bin: PathBuf,
    queues_file: PathBuf,
    ingress: Running,
    run: RunSettings,
    token: String,
    shutdown: CancellationToken,
    workers: Vec<WorkerProcess>,
    scratch: PathBuf,
    /// (id, body) of every message [`FaultWorld::publish`] posts, for a failure's diagnosis.
    messages: std::sync::OnceLock<Arc<Vec<(String, String)>>>,
}

impl FaultWorld {
    /// Starts the node, the cluster (migrated), the sandbox and the ingress. `node_bin` is the
    /// `switchyard` program the workers run (`env!("CARGO_BIN_EXE_switchyard-e2e-node")`).
    pub async fn start(name: &str, node_bin: &Path) -> FaultWorld {
        let rabbit = tokio::task::spawn_blocking(RabbitNode::start);
        let postgres = tokio::task::spawn_blocking(PgCluster::start);
        let rabbit = rabbit.await.unwrap().expect("throwaway RabbitMQ node");
        let postgres = postgres.await.unwrap().expect("throwaway Postgres cluster");
        let store = Store::connect(&postgres.url(), 4).await.expect("store");
        store.migrate().await.expect("migrations");
        let scratch = std::env::temp_dir().join(format!(
            "switchyard-fault-{name}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&scratch).unwrap();
        let queues_file = scratch.join("queues.toml");
        std::fs::write(&queues_file, QUEUES).unwrap();
        let topology = Topology::new(QueuesConfig::load(&queues_file).unwrap());
        let sandbox = switchyard_sandbox::start(switchyard_sandbox::SandboxConfig::ephemeral())
            .await
            .expect("sandbox");
        let port = crate::throwaway::spare_port();
        let run = crate::run_settings(port, &sandbox);
        let settings = Settings {
            amqp_url: rabbit.url(),
            database_url: postgres.url(),
            queues: queues_file.clone(),
            log: "error".into(),
            log_json: false,
            dlq_keys: format!(
                "fault:{}",
                switchyard_store::dead_letters::PayloadCipher::generate_key()
            ),
        };
        let shutdown = CancellationToken::new();
        let ingress = components::start(
            &BTreeSet::from([Component::Ingress]),
            &settings,
            &run,
            shutdown.clone(),
        )
        .await
        .expect("ingress starts");
        let broker = Broker::connect(
            &rabbit.url(),
            topology.clone(),
            "fault-test",
            Metrics::new(),
        )
        .await
        .expect("test's broker connection");
        let (_, token) = store
            .create_api_key("fault-publisher", Role::Publisher, &["sms.".to_owned()])
            .await
            .expect("publisher key");
        FaultWorld {
            name: name.to_owned(),
            rabbit,
            postgres,
            sandbox,
            store,
            broker,
            topology,
            node_bin: node_bin.to_owned(),
            queues_file,
            ingress,
            run,
            token,
            shutdown,
            workers: Vec::new(),
            scratch,
            messages: std::sync::OnceLock::new(),
        }
    }

    /// Starts one more `switchyard run sms` process; returns its index.
    pub fn spawn_worker(&mut self) -> usize {
        let index = self.workers.len();
        let log = self.scratch.join(format!("worker-{index}.log"));
        let mut child = Command::new(&self.node_bin)
            .args(["run", "sms", "--metrics-listen", "127.0.0.1:0"])
            .env("SWITCHYARD_AMQP_URL", self.rabbit.url())
            .env("SWITCHYARD_DATABASE_URL", self.postgres.url())
            .env("SWITCHYARD_QUEUES", &self.queues_file)
            .env("SWITCHYARD_TWILIO_BASE_URL", self.sandbox.base_url())
            .env("SWITCHYARD_PUBLIC_URL", &self.run.public_url)
            .env("SWITCHYARD_TEMPLATES", &self.run.templates)
            .env("SWITCHYARD_PROVIDER_TIMEOUT", "5")
            .env("SWITCHYARD_SHUTDOWN_GRACE", "5")
            // The production default, so spans are live as in production (a span misuse once
            // killed deliveries only there); SWITCHYARD_FAULT_WORKER_LOG=debug to see more.
            .env(
                "SWITCHYARD_LOG",
                std::env::var("SWITCHYARD_FAULT_WORKER_LOG")
                    .unwrap_or_else(|_| "info,lapin=error".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the worker process starts");
        // The banner's metrics line says where this process's /metrics is.
        let stdout = child.stdout.take().expect("piped stdout");
        let metrics = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                line.strip_prefix("metrics")
                    .and_then(|rest| rest.split_whitespace().next().map(str::to_owned))
            });
        assert!(
            metrics.is_some(),
            "worker {index} exited during start-up; see {}",
            log.display()
        );
        self.workers.push(WorkerProcess { child, metrics });
        index
    }

    /// `kill -9` of worker `index`.
    pub fn kill_worker(&mut self, index: usize) {
        let worker = &mut self.workers[index];
        worker.child.kill().expect("SIGKILL");
        worker.child.wait().expect("reaped");
        worker.metrics = None;
    }

    /// The value of `series` (name and labels as exposed) on worker `index`'s `/metrics`; 0 when
    /// absent or the worker is dead.
    pub async fn worker_metric(&self, index: usize, series: &str) -> f64 {
        let Some(url) = &self.workers[index].metrics else {
            return 0.0;
        };
        let Ok(response) = reqwest::get(url.as_str()).await else {
            return 0.0;
        };
        let text = response.text().await.unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    /// Runs `worker` inside the test process on the world's broker and cluster, until the
    /// returned token is cancelled (for a worker the test wraps, e.g. with a poison pill).
    pub async fn run_in_process<W: Worker>(&self, worker: W) -> CancellationToken {
        let metrics = Metrics::new();
        let broker = Broker::connect(
            &self.rabbit.url(),
            self.topology.clone(),
            "fault-worker",
            metrics.clone(),
        )
        .await
        .expect("worker broker connection");
        let ctx = RuntimeContext {
            broker: broker.clone(),
            publisher: Publisher::new(broker, Duration::from_secs(5)),
            store: self.worker_store().await,
            metrics,
            shutdown_grace: Duration::from_secs(5),
            depth_interval: Duration::from_secs(1),
        };
        let token = self.shutdown.child_token();
        let stop = token.clone();
        tokio::spawn(async move {
            switchyard_runtime::run(worker, ctx, stop)
                .await
                .expect("worker runs");
        });
        token
    }

    /// The SMS worker as `switchyard run sms` builds it, on this world's cluster and sandbox.
    pub async fn sms_worker(&self) -> switchyard_sms::SmsWorker {
        components::sms_worker(&self.run, None, self.worker_store().await, Metrics::new())
            .expect("SMS worker")
    }

    async fn worker_store(&self) -> Store {
        Store::connect(&self.postgres.url(), 16)
            .await
            .expect("worker store")
    }

    /// The name of the SMS parking queue.
    pub fn parking_queue(&self) -> String {
        self.topology.parking_queue("sms")
    }

    /// The body of message `i` of this scenario.
    pub fn body(&self, i: usize) -> String {
        format!("fault {} #{i}", self.name)
    }

    /// Publishes `count` messages through the ingress from `clients` keep-alive clients at about
    /// `per_second` in all, each retrying a 503 or a refused connection until it gets its 202.
    pub fn publish(&self, count: usize, per_second: u32, clients: usize) -> JoinHandle<Published> {
        let next = Arc::new(AtomicUsize::new(0));
        let unavailable = Arc::new(AtomicUsize::new(0));
        let pause = Duration::from_secs_f64(clients as f64 / f64::from(per_second.max(1)));
        let url = format!(
            "http://{}/v1/messages",
            self.ingress.ingress.expect("ingress")
        );
        let http = reqwest::Client::new();
        let messages: Arc<Vec<(String, String)>> = Arc::new(
            (0..count)
                .map(|i| (uuid::Uuid::now_v7().to_string(), self.body(i)))
                .collect(),
        );
        let _ = self.messages.set(messages.clone());
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (next, unavailable) = (next.clone(), unavailable.clone());
            let (url, http, token) = (url.clone(), http.clone(), self.token.clone());
            let messages = messages.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return;
                    }
                    let (id, body) = &messages[i];
                    let message = json!({ "id": id, "type": "sms.send",
                        "payload": { "to": "+15005550006", "body": body } });
                    post_until_accepted(&http, &url, &token, &message, &unavailable).await;
                    tokio::time::sleep(pause).await;
                }
            }));
        }
        tokio::spawn(async move {
            for task in tasks {
                task.await.expect("publisher");
            }
            Published {
                ids: messages.iter().map(|(id, _)| id.clone()).collect(),
                accepted: next.load(Ordering::Relaxed).min(count),
                unavailable: unavailable.load(Ordering::Relaxed),
            }
        })
    }

    /// Provider-side creations per body of this scenario (201 answers only).
    pub fn sends(&self) -> HashMap<String, usize> {
        let prefix = format!("fault {} #", self.name);
        let mut counts = HashMap::new();
        for request in self.sandbox.requests() {
            if request.status == 201
                && let Some(body) = request
                    .form_value("Body")
                    .filter(|b| b.starts_with(&prefix))
            {
                *counts.entry(body.to_owned()).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Waits until the provider has every one of `count` messages, or panics after `timeout`
    /// with how many it has.
    pub async fn wait_all_sent(&self, count: usize, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let have = self.sends().len();
            if have >= count {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                let depth = |queue: String| async move {
                    self.broker.queue_depth(&queue).await.map_or(-1, i64::from)
                };
                let mut depths = vec![
                    ("sms", depth(self.topology.work_queue("sms")).await),
                    ("sms.dead", depth(self.parking_queue()).await),
                ];
                for tier in ["200ms", "1s", "3s"] {
                    depths.push((tier, depth(format!("fault.sms.retry.{tier}")).await));
                }
                panic!(
                    "fault {}: the provider has {have} of {count} messages after {timeout:?}; \
                     queue depths {depths:?}; worker logs in {}\n{}",
                    self.name,
                    self.scratch.display(),
                    self.diagnosis().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What the broker and the delivery log say about the messages the provider lacks.
    async fn diagnosis(&self) -> String {
        let mut text = String::new();
        for args in [
            &[
                "list_queues",
                "name",
                "messages_ready",
                "messages_unacknowledged",
                "consumers",
            ][..],
            &["list_connections", "name", "state", "channels"],
            &[
                "list_channels",
                "connection",
                "number",
                "consumer_count",
                "messages_unacknowledged",
            ],
        ] {
            text += &format!(
                "rabbitmqctl {}:\n{}",
                args.join(" "),
                self.rabbit.inspect(args)
            );
        }
        let sends = self.sends();
        let Some(messages) = self.messages.get() else {
            return text;
        };
        for (id, body) in messages.iter().filter(|(_, b)| !sends.contains_key(b)) {
            let delivery = self.store.delivery("sms", id).await;
            text += &format!("missing {body:?} id {id}: delivery log {delivery:?}\n");
        }
        text
    }

    /// Waits until the provider has at least `count` messages of this scenario.
    pub async fn wait_sent_at_least(&self, count: usize, timeout: Duration) {
        self.wait_all_sent(count, timeout).await;
    }

    /// The report: what the provider got, cross-checked with the delivery log, and what was
    /// parked. Prints the scenario's report line.
    pub async fn report(&self, published: &Published) -> Report {
        let sent = published.accepted;
        let sends = self.sends();
        let duplicated = sends.values().filter(|n| **n > 1).count();
        // The provider answers before the worker writes the log: give the last writes time.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut handed_over = self.handed_over_in_log(&published.ids).await;
        while handed_over < sends.len() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            handed_over = self.handed_over_in_log(&published.ids).await;
        }
        let delivered = sends.len().min(handed_over);
        let parked = self.parked().await;
        let report = Report {
            sent,
            delivered,
            duplicated,
            parked,
        };
        println!(
            "fault {}: sent {sent}, delivered {delivered}, duplicated {duplicated}, parked {parked} \
             (provider record: {} distinct, delivery log: {handed_over} handed over)",
            self.name,
            sends.len()
        );
        report
    }

    /// Messages in the parking queue. The test's own connection may still be reconnecting
    /// after a broker restart: it is given the time the workers get.
    async fn parked(&self) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match self.broker.queue_depth(&self.parking_queue()).await {
                Ok(depth) => return depth as usize,
                Err(error) if tokio::time::Instant::now() >= deadline => {
                    panic!("parking queue depth: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// Delivery-log rows of this scenario's sends that say the provider has the message.
    async fn handed_over_in_log(&self, ids: &[String]) -> usize {
        let mut handed_over = 0;
        for id in ids {
            let delivery = self.store.delivery("sms", id).await.expect("delivery log");
            if delivery.is_some_and(|d| {
                matches!(
                    d.status,
                    DeliveryStatus::Queued
                        | DeliveryStatus::Sent
                        | DeliveryStatus::Delivered
                        | DeliveryStatus::Undelivered
                )
            }) {
                handed_over += 1;
            }
        }
        handed_over
    }

    /// Stops the workers (SIGKILL: their state is what the test inspects, not their goodbye)
    /// and the ingress; the node and the cluster go when the world is dropped.
    pub async fn finish(mut self) {
        for worker in &mut self.workers {
            let _ = worker.child.kill();
            let _ = worker.child.wait();
        }
        self.shutdown.cancel();
        while self.ingress.tasks.join_next().await.is_some() {}
        self.sandbox.shutdown();
        self.broker.close().await;
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

async fn post_until_accepted(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    message: &serde_json::Value,
    unavailable: &AtomicUsize,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        match http.post(url).bearer_auth(token).json(message).send().await {
            Ok(response) if response.status() == reqwest::StatusCode::ACCEPTED => return,
            Ok(response) if response.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE => {}
            Ok(response) => panic!(
                "the ingress answered {} to a valid message: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            ),
            Err(error) if error.is_connect() || error.is_request() => {}
            Err(error) => panic!("posting failed: {error}"),
        }
        unavailable.fetch_add(1, Ordering::Relaxed);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ingress did not take a message for 3 minutes"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
