//! `switchyard bench`: how fast Switchyard goes next to what RabbitMQ itself allows, measured in
//! one run on this machine. Stages: (1) the limit — raw lapin publish-with-confirms (pipelined)
//! and consume-with-acks (batched) on a quorum queue; (2) the ingress, single and batch;
//! (3) end to end, ingress → SMS worker → provider sandbox (no latency) with the delivery log
//! written, at full load (until the worker has also finished the status callbacks) and at half
//! that rate; (4) process CPU and peak RSS. Prints a table of ratios to the limit and writes a
//! JSON report.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use serde_json::json;
use switchyard_broker::{Broker, Publisher, QueuesConfig, Topology};
use switchyard_runtime::RuntimeContext;
use switchyard_store::{Role, Store};
use switchyard_telemetry::Metrics;
use switchyard_telemetry::metrics::OutcomeLabels;
use tokio_util::sync::CancellationToken;

use crate::components::{self, Component};
use crate::settings::{RunSettings, Settings};

mod raw;
mod report;

/// `switchyard bench` options.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Messages per stage.
    #[arg(long, default_value_t = 5000)]
    pub messages: usize,
    /// Size of each message's SMS body, bytes.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Concurrent HTTP clients (keep-alive).
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Where to write the JSON report.
    #[arg(long, default_value = "bench-report.json")]
    pub json: PathBuf,
    /// A quick run (200 messages) to check the bench itself works; figures mean little.
    #[arg(long)]
    pub smoke: bool,
}

/// Rate and latency of one stage.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stage {
    /// What was measured.
    pub name: String,
    /// Messages per second.
    pub rate: f64,
    /// Median latency, ms (when measured).
    pub p50_ms: Option<f64>,
    /// 99th percentile latency, ms (when measured).
    pub p99_ms: Option<f64>,
    /// CPU seconds per 10,000 messages of this process during the stage.
    pub cpu_s_per_10k: f64,
    /// End to end only: messages per second until the provider had every SMS, before the
    /// worker had finished their status callbacks (which `rate` waits for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_rate: Option<f64>,
    /// CPU seconds per 10,000 messages of the Postgres backends serving the bench's database
    /// (when Postgres runs on this machine; 0 otherwise).
    pub db_cpu_s_per_10k: f64,
}

/// Runs the benchmark.
pub async fn run(settings: &Settings, args: &BenchArgs) -> anyhow::Result<()> {
    let n = if args.smoke { 200 } else { args.messages };
    report::watch_database(&settings.database_url);
    let namespace = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let queues_file = bench_topology(settings, &namespace)?;
    let mut settings = settings.clone();
    settings.queues = queues_file.clone();
    let topology = Topology::new(QueuesConfig::load(&queues_file)?);
    let result = stages(&settings, &topology, args, n).await;
    raw::delete_topology(&settings.amqp_url, &topology).await;
    let _ = std::fs::remove_file(&queues_file);
    let stages = result?;
    let table = report::table(&stages);
    print!("{table}");
    let report = json!({ "messages": n, "body_bytes": args.size, "clients": args.clients, "peak_rss_mib": report::peak_rss_mib(), "stages": stages });
    std::fs::write(&args.json, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", args.json.display()))?;
    println!("report written to {}", args.json.display());
    Ok(())
}

/// The shipped topology under a throwaway namespace, with the rate limit lifted (the bench
/// measures throughput, not the provider's limit).
fn bench_topology(settings: &Settings, namespace: &str) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(&settings.queues)
        .with_context(|| format!("reading {}", settings.queues.display()))?;
    let mut doc: toml::Table = toml::from_str(&text)?;
    doc.insert("namespace".into(), toml::Value::String(namespace.into()));
    if let Some(toml::Value::Table(queues)) = doc.get_mut("queues") {
        for (_, queue) in queues.iter_mut() {
            if let toml::Value::Table(q) = queue {
                let mut limit = toml::Table::new();
                limit.insert("per_second".into(), toml::Value::Integer(1_000_000));
                limit.insert("burst".into(), toml::Value::Integer(1_000_000));
                q.insert("rate_limit".into(), toml::Value::Table(limit));
            }
        }
    }
    let path = std::env::temp_dir().join(format!("{namespace}.toml"));
    std::fs::write(&path, toml::to_string(&doc)?)?;
    Ok(path)
}

async fn stages(
    settings: &Settings,
    topology: &Topology,
    args: &BenchArgs,
    n: usize,
) -> anyhow::Result<Vec<Stage>> {
    let mut stages = raw::limit(&settings.amqp_url, topology, n, args.size).await?;
    let sandbox = switchyard_sandbox::start(switchyard_sandbox::SandboxConfig::ephemeral()).await?;
    let run = run_settings(&sandbox).await?;
    let shutdown = CancellationToken::new();
    let running = components::start(
        &BTreeSet::from([Component::Ingress]),
        settings,
        &run,
        shutdown.clone(),
    )
    .await?;
    // As many connections as the worker has handlers, so the pool is not the bottleneck.
    let store = Store::connect(&settings.database_url, 32).await?;
    let (_, token) = store
        .create_api_key("bench", Role::Publisher, &["sms.".to_owned()])
        .await?;
    let http = Http {
        client: reqwest::Client::new(),
        base: format!("http://{}", running.ingress.expect("ingress runs")),
        token,
        size: args.size,
    };
    let clients = args.clients;

    let single = report::measure("ingress POST /v1/messages", n, || async {
        Ok(http
            .post_each("ingress", n, clients, None)
            .await?
            .into_iter()
            .map(|s| s.latency)
            .collect())
    });
    stages.push(single.await?);
    stages.push(
        report::measure("ingress POST /v1/messages/batch (100)", n, || {
            http.post_batches(n, clients)
        })
        .await?,
    );
    raw::purge(&settings.amqp_url, &topology.work_queue("sms")).await?;

    let worker_shutdown = CancellationToken::new();
    let worker = start_worker(settings, &run, &store, worker_shutdown.clone()).await?;
    let delivered = |target: usize| {
        let sandbox = sandbox.clone();
        async move {
            while sandbox
                .requests()
                .iter()
                .filter(|r| r.status == 201)
                .count()
                < target
            {
                // requests() copies the whole record: poll gently, or the bench slows the sandbox.
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    // Each SMS is three deliveries for the worker: the send and two `sms.status` callbacks.
    // The full-load stage ends when the worker has finished those callbacks too, not only when
    // the provider has every SMS: that is the rate the pipeline sustains, and the half-load
    // stage after it starts on an idle pipeline, so its latency is its own.
    let mut provider_done = None;
    let mut full = report::measure("end to end, full load", n, || async {
        let started = Instant::now();
        let sent = http.post_each("full", n, clients, None).await?;
        delivered(n).await;
        provider_done = Some(started.elapsed());
        let latencies = report::provider_latencies(&sandbox, "full", &sent);
        finished(&worker, 3 * n).await?;
        Ok(latencies)
    })
    .await?;
    full.provider_rate = provider_done.map(|t| n as f64 / t.as_secs_f64());
    let (half_rate, half_n) = ((full.rate / 2.0).max(1.0), (n / 2).max(1));
    let half = report::measure("end to end, half load", half_n, || async {
        let sent = http
            .post_each("half", half_n, clients, Some(half_rate))
            .await?;
        delivered(n + half_n).await;
        Ok(report::provider_latencies(&sandbox, "half", &sent))
    })
    .await?;
    finished(&worker, 3 * (n + half_n)).await?;
    stages.push(full);
    stages.push(half);
    worker_shutdown.cancel();
    shutdown.cancel();
    sandbox.shutdown();
    Ok(stages)
}

async fn run_settings(sandbox: &switchyard_sandbox::SandboxHandle) -> anyhow::Result<RunSettings> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    drop(listener);
    Ok(RunSettings {
        listen: ([127, 0, 0, 1], port).into(),
        metrics_listen: ([127, 0, 0, 1], 0).into(),
        public_url: format!("http://127.0.0.1:{port}"),
        body_limit: 4 * 1024 * 1024,
        key_cache_secs: 5,
        twilio_base_url: Some(sandbox.base_url()),
        twilio_account_sid: switchyard_sandbox::DEFAULT_ACCOUNT_SID.into(),
        twilio_auth_token: switchyard_sandbox::DEFAULT_AUTH_TOKEN.into(),
        sms_from: "+15005550006".into(),
        sms_messaging_service_sid: None,
        templates: PathBuf::from("templates"),
        sandbox_listen: ([127, 0, 0, 1], 0).into(),
        shutdown_grace_secs: 5,
        push: Default::default(),
        provider_timeout_secs: 10,
        email: Default::default(),
    })
}

/// How long the bench waits for the worker to finish the status callbacks before giving up.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// Waits until the worker has finished `target` deliveries successfully (sends and status
/// callbacks alike).
async fn finished(worker: &Metrics, target: usize) -> anyhow::Result<()> {
    let labels = OutcomeLabels {
        integration: "sms".into(),
        outcome: "succeeded".into(),
    };
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        let done = worker.messages_finished.get_or_create(&labels).get();
        if done >= target as u64 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the worker finished {done} of {target} deliveries within {DRAIN_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts the SMS worker on its own broker connection; returns its metrics.
async fn start_worker(
    settings: &Settings,
    run: &RunSettings,
    store: &Store,
    shutdown: CancellationToken,
) -> anyhow::Result<Metrics> {
    let metrics = Metrics::new();
    let topology = Topology::new(QueuesConfig::load(&settings.queues)?);
    let broker = Broker::connect(
        &settings.amqp_url,
        topology,
        "bench-worker",
        metrics.clone(),
    )
    .await?;
    let ctx = RuntimeContext {
        broker: broker.clone(),
        publisher: Publisher::new(broker, Duration::from_secs(5)),
        store: store.clone(),
        metrics: metrics.clone(),
        shutdown_grace: Duration::from_secs(5),
        depth_interval: Duration::from_secs(5),
    };
    let worker = components::sms_worker(run, None, store.clone(), metrics.clone())?;
    tokio::spawn(switchyard_runtime::run(worker, ctx, shutdown));
    Ok(metrics)
}

/// One message posted by the load generator.
pub struct Sent {
    /// Its index within the stage (also in its body, so the provider record can be matched).
    pub index: usize,
    /// When it was posted.
    pub at: chrono::DateTime<chrono::Utc>,
    /// How long the ingress took to answer 202.
    pub latency: Duration,
}

/// The HTTP load generator.
struct Http {
    client: reqwest::Client,
    base: String,
    token: String,
    size: usize,
}

/// Runs `job(i)` for every `i` in `0..count`, spread over `clients` concurrent workers that
/// each take the next index; returns all results.
async fn fan_out<T, F, Fut>(count: usize, clients: usize, job: F) -> anyhow::Result<Vec<T>>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let next = AtomicUsize::new(0);
    let worker = || async {
        let mut out = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= count {
                return Ok::<_, anyhow::Error>(out);
            }
            out.push(job(i).await?);
        }
    };
    let all = futures_util::future::try_join_all((0..clients.max(1)).map(|_| worker())).await?;
    Ok(all.into_iter().flatten().collect())
}

impl Http {
    /// The SMS body of message `index` of stage `tag`: `bench <tag> <index> xxx…`, `size` long.
    fn body(&self, tag: &str, index: usize) -> String {
        let head = format!("bench {tag} {index} ");
        let pad = self.size.saturating_sub(head.len());
        format!("{head}{}", "x".repeat(pad))
    }

    fn message(&self, tag: &str, index: usize) -> serde_json::Value {
        json!({ "type": "sms.send", "payload": { "to": "+15005550006", "body": self.body(tag, index) } })
    }

    /// Posts `n` single messages from `clients` concurrent clients, optionally paced to `rate`
    /// per second overall.
    async fn post_each(
        &self,
        tag: &str,
        n: usize,
        clients: usize,
        rate: Option<f64>,
    ) -> anyhow::Result<Vec<Sent>> {
        let started = Instant::now();
        fan_out(n, clients, |index| async move {
            if let Some(rate) = rate {
                tokio::time::sleep_until(
                    (started + Duration::from_secs_f64(index as f64 / rate)).into(),
                )
                .await;
            }
            let (at, t) = (chrono::Utc::now(), Instant::now());
            self.post("/v1/messages", &self.message(tag, index)).await?;
            Ok(Sent {
                index,
                at,
                latency: t.elapsed(),
            })
        })
        .await
    }

    /// Posts `n` messages in batches of 100; returns each batch's latency.
    async fn post_batches(&self, n: usize, clients: usize) -> anyhow::Result<Vec<Duration>> {
        fan_out(n.div_ceil(100), clients, |b| async move {
            let items: Vec<_> = (b * 100..((b + 1) * 100).min(n))
                .map(|i| self.message("batch", i))
                .collect();
            let t = Instant::now();
            self.post("/v1/messages/batch", &json!({ "messages": items }))
                .await?;
            Ok(t.elapsed())
        })
        .await
    }

    /// Posts `body` to `path`; anything but 202 is an error.
    async fn post(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.base);
        let response = self
            .client
            .post(url)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == 202,
            "ingress answered {}",
            response.status()
        );
        Ok(())
    }
}
