//! The SMS worker as processes of their own (`switchyard run sms`, one per replica), so their
//! CPU and memory are measured apart from the ingress, the sandbox and the load generator in
//! the bench process.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::settings::{RunSettings, Settings};

/// How long the bench waits for the worker to finish the status callbacks before giving up.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// A running worker process.
pub struct WorkerProcess {
    child: Child,
    metrics_url: String,
    http: reqwest::Client,
}

impl WorkerProcess {
    /// Starts this very program as `run sms` against the bench's broker, database, topology
    /// and sandbox, and waits for its banner.
    pub fn spawn(settings: &Settings, run: &RunSettings) -> anyhow::Result<WorkerProcess> {
        let exe = std::env::current_exe().context("locating the switchyard binary")?;
        let mut child = Command::new(exe)
            .args(["run", "sms", "--metrics-listen", "127.0.0.1:0"])
            .env("SWITCHYARD_AMQP_URL", &settings.amqp_url)
            .env("SWITCHYARD_DATABASE_URL", &settings.database_url)
            .env("SWITCHYARD_QUEUES", &settings.queues)
            .env("SWITCHYARD_DLQ_KEYS", &settings.dlq_keys)
            .env(
                "SWITCHYARD_TWILIO_BASE_URL",
                run.twilio_base_url.as_deref().unwrap_or_default(),
            )
            .env("SWITCHYARD_PUBLIC_URL", &run.public_url)
            .env("SWITCHYARD_TEMPLATES", &run.templates)
            .env("SWITCHYARD_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the worker process")?;
        let stdout = child.stdout.take().context("the worker's stdout")?;
        let metrics = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                let rest = line.strip_prefix("metrics")?;
                rest.split_whitespace().next().map(str::to_owned)
            });
        let Some(metrics_url) = metrics else {
            let _ = child.kill();
            anyhow::bail!(
                "the worker process exited during start-up; run `switchyard run sms` to see why"
            );
        };
        Ok(WorkerProcess {
            child,
            metrics_url,
            http: reqwest::Client::new(),
        })
    }

    /// The worker's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Deliveries this worker has finished successfully (sends and status callbacks alike),
    /// read from its `/metrics`.
    async fn succeeded(&self) -> anyhow::Result<f64> {
        let series =
            "switchyard_messages_finished_total{integration=\"sms\",outcome=\"succeeded\"}";
        let text = self
            .http
            .get(&self.metrics_url)
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0))
    }

    /// Resident memory now (`VmRSS`) and at its peak (`VmHWM`), MiB.
    pub fn rss_mib(&self) -> (f64, f64) {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(Path::new(&path)).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The worker replicas of a bench run, sharing the SMS queue.
pub struct Workers(Vec<WorkerProcess>);

impl Workers {
    /// Starts `replicas` worker processes.
    pub fn spawn(
        settings: &Settings,
        run: &RunSettings,
        replicas: usize,
    ) -> anyhow::Result<Workers> {
        let workers = (0..replicas.max(1))
            .map(|_| WorkerProcess::spawn(settings, run))
            .collect::<anyhow::Result<_>>()?;
        Ok(Workers(workers))
    }

    /// Their process ids.
    pub fn pids(&self) -> Vec<u32> {
        self.0.iter().map(WorkerProcess::pid).collect()
    }

    /// Waits until the replicas together have finished `target` deliveries successfully.
    pub async fn finished(&self, target: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        loop {
            let mut done = 0.0;
            for worker in &self.0 {
                done += worker.succeeded().await?;
            }
            if done >= target as f64 {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the workers finished {done} of {target} deliveries within {DRAIN_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The largest replica's resident memory now and at its peak, MiB.
    pub fn rss_mib(&self) -> (f64, f64) {
        self.0
            .iter()
            .map(WorkerProcess::rss_mib)
            .fold((0.0, 0.0), |(now, peak), (n, p)| {
                (f64::max(now, n), f64::max(peak, p))
            })
    }
}
