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
use switchyard_broker::{QueuesConfig, Topology};
use switchyard_store::{Role, Store};
use tokio_util::sync::CancellationToken;

use crate::components::{self, Component};
use crate::settings::{RunSettings, Settings};

mod raw;
mod report;
mod worker;

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
    /// Handlers per worker (and prefetch twice that) for the bench's queues; the shipped
    /// queues.toml values when absent. More handlers make bigger group commits.
    #[arg(long)]
    pub handlers: Option<u32>,
    /// Worker processes (replicas) sharing the SMS queue, as a deployment scales out; their
    /// CPU is summed and the largest one's memory reported.
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
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
    /// CPU seconds per 10,000 messages of the bench process (the ingress, the sandbox and the
    /// load generator) during the stage.
    pub cpu_s_per_10k: f64,
    /// CPU seconds per 10,000 messages of the worker process, when the stage involves it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_cpu_s_per_10k: Option<f64>,
    /// End to end only: messages per second until the provider had every SMS, before the
    /// worker had finished their status callbacks (which `rate` waits for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_rate: Option<f64>,
    /// CPU seconds per 10,000 messages of the Postgres backends serving the bench's database
    /// (when Postgres runs on this machine; 0 otherwise).
    pub db_cpu_s_per_10k: f64,
}

/// Peak and idle memory of the processes, MiB.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Memory {
    /// The worker process, connected and consuming, before any load.
    pub worker_idle_rss_mib: f64,
    /// The worker process at its peak, over every stage.
    pub worker_peak_rss_mib: f64,
    /// The bench process (ingress, sandbox, load generator) at its peak.
    pub bench_peak_rss_mib: f64,
}

/// Runs the benchmark.
pub async fn run(settings: &Settings, args: &BenchArgs) -> anyhow::Result<()> {
    let n = if args.smoke { 200 } else { args.messages };
    report::watch_database(&settings.database_url);
    let namespace = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let queues_file = bench_topology(settings, &namespace, args.handlers)?;
    let mut settings = settings.clone();
    settings.queues = queues_file.clone();
    let topology = Topology::new(QueuesConfig::load(&queues_file)?);
    let result = stages(&settings, &topology, args, n).await;
    raw::delete_topology(&settings.amqp_url, &topology).await;
    let _ = std::fs::remove_file(&queues_file);
    let (stages, memory) = result?;
    let table = report::table(&stages, &memory);
    print!("{table}");
    let report = json!({ "messages": n, "body_bytes": args.size, "clients": args.clients,
        "replicas": args.replicas, "memory": memory, "stages": stages });
    std::fs::write(&args.json, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", args.json.display()))?;
    println!("report written to {}", args.json.display());
    Ok(())
}

/// The shipped topology under a throwaway namespace, with the rate limit lifted (the bench
/// measures throughput, not the provider's limit).
fn bench_topology(
    settings: &Settings,
    namespace: &str,
    handlers: Option<u32>,
) -> anyhow::Result<PathBuf> {
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
                if let Some(handlers) = handlers {
                    q.insert("concurrency".into(), toml::Value::Integer(handlers.into()));
                    q.insert(
                        "prefetch".into(),
                        toml::Value::Integer(2 * i64::from(handlers)),
                    );
                }
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
) -> anyhow::Result<(Vec<Stage>, Memory)> {
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

    let single = report::measure("ingress POST /v1/messages", n, &[], || async {
        Ok(http
            .post_each("ingress", n, clients, None)
            .await?
            .into_iter()
            .map(|s| s.latency)
            .collect())
    });
    stages.push(single.await?);
    stages.push(
        report::measure("ingress POST /v1/messages/batch (100)", n, &[], || {
            http.post_batches(n, clients)
        })
        .await?,
    );
    raw::purge(&settings.amqp_url, &topology.work_queue("sms")).await?;

    let worker = worker::Workers::spawn(settings, &run, args.replicas)?;
    // Idle: connected, consuming, nothing to do yet.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (worker_idle_rss, _) = worker.rss_mib();
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
    let pids = worker.pids();
    let mut full = report::measure("end to end, full load", n, &pids, || async {
        let started = Instant::now();
        let sent = http.post_each("full", n, clients, None).await?;
        delivered(n).await;
        provider_done = Some(started.elapsed());
        let latencies = report::provider_latencies(&sandbox, "full", &sent);
        worker.finished(3 * n).await?;
        Ok(latencies)
    })
    .await?;
    full.provider_rate = provider_done.map(|t| n as f64 / t.as_secs_f64());
    let (half_rate, half_n) = ((full.rate / 2.0).max(1.0), (n / 2).max(1));
    let half = report::measure("end to end, half load", half_n, &pids, || async {
        let sent = http
            .post_each("half", half_n, clients, Some(half_rate))
            .await?;
        delivered(n + half_n).await;
        Ok(report::provider_latencies(&sandbox, "half", &sent))
    })
    .await?;
    worker.finished(3 * (n + half_n)).await?;
    stages.push(full);
    stages.push(half);
    let (_, worker_peak_rss) = worker.rss_mib();
    drop(worker);
    let memory = Memory {
        worker_idle_rss_mib: worker_idle_rss,
        worker_peak_rss_mib: worker_peak_rss,
        bench_peak_rss_mib: report::peak_rss_mib(),
    };
    shutdown.cancel();
    sandbox.shutdown();
    Ok((stages, memory))
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
        webhooks: None,
        twilio_base_url: Some(sandbox.base_url()),
        twilio_account_sid: switchyard_sandbox::DEFAULT_ACCOUNT_SID.into(),
        twilio_auth_token: switchyard_sandbox::DEFAULT_AUTH_TOKEN.into(),
        sms_from: "+15005550006".into(),
        sms_messaging_service_sid: None,
        templates: PathBuf::from("templates"),
        sandbox_listen: ([127, 0, 0, 1], 0).into(),
        shutdown_grace_secs: 5,
        sandbox_public_url: None,
        push: Default::default(),
        payments: Default::default(),
        provider_timeout_secs: 10,
        email: Default::default(),
    })
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
