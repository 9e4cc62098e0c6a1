//! Measuring a stage (rate, percentiles, CPU) and printing the table.

use std::fmt::Write as _;
use std::future::Future;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use switchyard_sandbox::SandboxHandle;

use super::{Memory, Sent, Stage};

/// Runs `work` (which handles `n` messages and returns their latencies) and measures it,
/// including the CPU of the worker processes `workers` (summed) when there are any.
pub async fn measure<F, Fut>(
    name: &str,
    n: usize,
    workers: &[u32],
    work: F,
) -> anyhow::Result<Stage>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<Vec<Duration>>>,
{
    let stats: Vec<_> = workers
        .iter()
        .map(|pid| std::path::PathBuf::from(format!("/proc/{pid}/stat")))
        .collect();
    let worker_cpu =
        || (!stats.is_empty()).then(|| stats.iter().map(|s| process_cpu_seconds(s)).sum::<f64>());
    let cpu_before = cpu_seconds();
    let db_before = database_cpu_seconds();
    let worker_before = worker_cpu();
    let started = Instant::now();
    let mut latencies = work().await?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let db = database_cpu_seconds() - db_before;
    let worker_spent = worker_cpu()
        .zip(worker_before)
        .map(|(after, before)| (after - before) / n as f64 * 10_000.0);
    latencies.sort();
    Ok(Stage {
        name: name.to_owned(),
        rate: n as f64 / elapsed,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        cpu_s_per_10k: cpu / n as f64 * 10_000.0,
        worker_cpu_s_per_10k: worker_spent,
        db_cpu_s_per_10k: db / n as f64 * 10_000.0,
        provider_rate: None,
    })
}

/// The database whose Postgres backends [`measure`] counts (set once by the bench).
static DATABASE: OnceLock<String> = OnceLock::new();

/// Counts the CPU of the local Postgres backends connected to `database_url`'s database
/// during each stage (the bench's pools are the only clients of that database while it runs).
pub fn watch_database(database_url: &str) {
    let name = database_url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .unwrap_or_default();
    let _ = DATABASE.set(name.to_owned());
}

/// User + system CPU seconds of the Postgres backends serving [`DATABASE`] on this machine:
/// processes titled `postgres: <user> <database> <client> …` (Linux `/proc`; 0 elsewhere).
fn database_cpu_seconds() -> f64 {
    let Some(database) = DATABASE.get().filter(|d| !d.is_empty()) else {
        return 0.0;
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            let title = std::fs::read_to_string(e.path().join("cmdline")).unwrap_or_default();
            serves(&title, database)
        })
        .map(|e| process_cpu_seconds(&e.path().join("stat")))
        .sum()
}

/// Whether a process titled `title` is a Postgres backend serving `database`:
/// `postgres: [<cluster>:] <user> <database> <client> <state>`.
fn serves(title: &str, database: &str) -> bool {
    let words: Vec<&str> = title
        .split(|c: char| c.is_whitespace() || c == '\0')
        .filter(|w| !w.is_empty())
        .collect();
    let Some(("postgres:", rest)) = words.split_first().map(|(a, b)| (*a, b)) else {
        return false;
    };
    let rest = match rest.first() {
        Some(cluster) if cluster.ends_with(':') => &rest[1..],
        _ => rest,
    };
    rest.get(1) == Some(&database)
}

/// This process's user + system CPU seconds (Linux `/proc/self/stat`; 0 elsewhere).
fn cpu_seconds() -> f64 {
    process_cpu_seconds(Path::new("/proc/self/stat"))
}

/// From post to the provider receiving the request, per message of stage `tag`.
pub fn provider_latencies(sandbox: &SandboxHandle, tag: &str, sent: &[Sent]) -> Vec<Duration> {
    let mut at = vec![None; sent.len()];
    for s in sent {
        at[s.index] = Some(s.at);
    }
    let prefix = format!("bench {tag} ");
    sandbox
        .requests()
        .iter()
        .filter(|r| r.status == 201)
        .filter_map(|r| {
            let index: usize = r
                .form_value("Body")?
                .strip_prefix(&prefix)?
                .split(' ')
                .next()?
                .parse()
                .ok()?;
            let posted = (*at.get(index)?)?;
            (r.received_at - posted).to_std().ok()
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let index = ((last as f64) * p).round() as usize;
    Some(sorted[index].as_secs_f64() * 1000.0)
}

/// User + system CPU seconds of the process whose `/proc/<pid>/stat` is `stat`.
fn process_cpu_seconds(stat: &Path) -> f64 {
    let Ok(stat) = std::fs::read_to_string(stat) else {
        return 0.0;
    };
    // Fields after the command name (which is in parentheses and may contain spaces).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the full line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set size of this process, MiB (`VmHWM`).
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The table: each stage with its rate as a share of the raw publish-confirm rate.
pub fn table(stages: &[Stage], memory: &Memory) -> String {
    let limit = stages.first().map_or(1.0, |s| s.rate);
    let mut out = format!(
        "{:<42} {:>10} {:>8} {:>9} {:>9} {:>10} {:>10} {:>10}\n",
        "stage", "msg/s", "of limit", "p50 ms", "p99 ms", "bench CPU", "worker CPU", "PG CPU"
    );
    for s in stages {
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        let _ = writeln!(
            out,
            "{:<42} {:>10.0} {:>7.0}% {:>9} {:>9} {:>10.2} {:>10} {:>10.2}",
            s.name,
            s.rate,
            s.rate / limit * 100.0,
            ms(s.p50_ms),
            ms(s.p99_ms),
            s.cpu_s_per_10k,
            s.worker_cpu_s_per_10k
                .map_or("-".to_owned(), |c| format!("{c:.2}")),
            s.db_cpu_s_per_10k
        );
    }
    for s in stages {
        if let Some(rate) = s.provider_rate {
            let _ = writeln!(
                out,
                "{}: the provider had every SMS at {rate:.0} msg/s; the rate above also waits \
                 for their status callbacks",
                s.name
            );
        }
    }
    let _ = writeln!(
        out,
        "CPU columns: seconds per 10,000 messages of the bench process (ingress, sandbox, load \
         generator), the worker process and the Postgres backends"
    );
    let _ = writeln!(
        out,
        "RSS: worker {:.0} MiB idle, {:.0} MiB peak; bench process (ingress + sandbox + load \
         generator) {:.0} MiB peak",
        memory.worker_idle_rss_mib, memory.worker_peak_rss_mib, memory.bench_peak_rss_mib
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_from_sorted_latencies() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 0.5), Some(51.0));
        assert_eq!(percentile(&sorted, 0.99), Some(99.0));
        assert_eq!(percentile(&[], 0.5), None);
        assert!(cpu_seconds() >= 0.0);
    }

    #[test]
    fn backends_are_told_apart_by_database() {
        let title = "postgres: 15/main: postgres switchyard 127.0.0.1(38538) idle\0\0";
        assert!(serves(title, "switchyard"));
        assert!(!serves(title, "test"));
        assert!(serves(
            "postgres: app switchyard [local] idle",
            "switchyard"
        ));
        assert!(!serves("postgres: 15/main: checkpointer", "switchyard"));
        assert!(!serves(
            "/usr/lib/postgresql/15/bin/postgres\0-D",
            "switchyard"
        ));
    }
}
