//! `switchyard dlq …` and `switchyard audit list`: the dead-letter workbench for people
//! (tables, a progress line, confirmations) and scripts (`--json`).

use std::io::{IsTerminal, Write};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::Value;
use switchyard_admin::Workbench;
use switchyard_admin::filter::FilterArgs;
use switchyard_broker::{Broker, Publisher, QueuesConfig, Topology};
use switchyard_store::Store;
use switchyard_store::dead_letters::DeadLetterFilter;
use switchyard_telemetry::Metrics;
use tokio_util::sync::CancellationToken;

use crate::settings::Settings;

/// Which dead letters (every flag narrows; none means every parked message).
#[derive(Args, Debug, Default, Clone)]
pub struct FilterFlags {
    /// Record id (repeatable).
    #[arg(long = "id")]
    ids: Vec<i64>,
    /// Integration, e.g. `sms`.
    #[arg(long)]
    integration: Option<String>,
    /// Message type, e.g. `sms.send`.
    #[arg(long = "type")]
    message_type: Option<String>,
    /// Tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// Error class: `permanent`, `retryable`, `rate_limited`.
    #[arg(long)]
    class: Option<String>,
    /// Error code, e.g. `invalid_number`.
    #[arg(long)]
    code: Option<String>,
    /// Group id, from `dlq groups`.
    #[arg(long)]
    group: Option<String>,
    /// Parked at or after (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Parked before (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Text in the error reason.
    #[arg(long)]
    search: Option<String>,
    /// Status: parked (default), replayed, resolved, purged, archived.
    #[arg(long)]
    status: Option<String>,
}

impl FilterFlags {
    fn filter(&self) -> anyhow::Result<DeadLetterFilter> {
        let ids = self
            .ids
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let args = FilterArgs {
            id: (!ids.is_empty()).then_some(ids),
            integration: self.integration.clone(),
            message_type: self.message_type.clone(),
            tenant: self.tenant.clone(),
            class: self.class.clone(),
            code: self.code.clone(),
            group: self.group.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
            search: self.search.clone(),
            status: self.status.clone(),
            limit: None,
            offset: None,
        };
        args.to_filter().map_err(|fields| {
            let text: Vec<String> = fields
                .iter()
                .map(|f| format!("--{}: {}", f.pointer, f.message))
                .collect();
            anyhow::anyhow!(text.join("; "))
        })
    }
}

/// `switchyard dlq …`.
#[derive(Subcommand, Debug)]
pub enum DlqAction {
    /// List parked messages, newest first (payloads masked).
    List {
        /// Which messages.
        #[command(flatten)]
        filter: FilterFlags,
        /// Rows per page.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Rows to skip.
        #[arg(long, default_value_t = 0)]
        offset: i64,
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Failures grouped by integration, class, code and normalised message.
    Groups {
        /// Which messages.
        #[command(flatten)]
        filter: FilterFlags,
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// One record: headers, error, attempt history; `--payload` reveals it (audited).
    Show {
        /// Record id.
        id: i64,
        /// Show the decrypted payload (admin action, written to the audit log).
        #[arg(long)]
        payload: bool,
    },
    /// Send parked messages again, each to its own work queue, at a limited rate.
    ///
    /// Ctrl-C stops between messages: every record is then either replayed or still parked.
    Replay {
        /// Which messages.
        #[command(flatten)]
        filter: FilterFlags,
        /// Messages per second, e.g. `50/s` (a moderate default keeps live traffic flowing).
        #[arg(long, default_value = "10/s", value_parser = parse_rate)]
        rate: NonZeroU32,
        /// Only say how many and which.
        #[arg(long)]
        dry_run: bool,
    },
    /// Edit a parked message's payload and send the edited message instead.
    Edit {
        /// Record id.
        id: i64,
        /// The new payload (JSON); without it `$EDITOR` opens on the current one.
        #[arg(long)]
        payload: Option<PathBuf>,
    },
    /// Purge parked messages (payloads erased); asks first unless `--yes`.
    Purge {
        /// Which messages.
        #[command(flatten)]
        filter: FilterFlags,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Archive parked messages older than N days; optionally delete archived ones older than
    /// the retention.
    Archive {
        /// Age in days, e.g. `30`.
        #[arg(long)]
        older_than_days: i64,
        /// Delete archived records older than this many days.
        #[arg(long)]
        retention_days: Option<i64>,
    },
}

fn parse_rate(text: &str) -> Result<NonZeroU32, String> {
    let number = text.strip_suffix("/s").unwrap_or(text);
    number
        .parse::<NonZeroU32>()
        .map_err(|_| format!("`{text}`: give messages per second, e.g. 50/s"))
}

async fn workbench(settings: &Settings) -> anyhow::Result<Workbench> {
    let store = Store::connect(&settings.database_url, 4).await?;
    store.migrate().await?;
    let topology = Topology::new(QueuesConfig::load(&settings.queues)?);
    let metrics = Metrics::new();
    let broker = Broker::connect(
        &settings.amqp_url,
        topology,
        "switchyard-dlq",
        metrics.clone(),
    )
    .await?;
    let publisher = Publisher::new(broker, Duration::from_secs(5));
    crate::components::workbench(settings, &store, &publisher, &metrics)
}

/// The OS user, for the audit log.
fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".into())
    )
}

/// Runs a `dlq` subcommand.
pub async fn run(settings: &Settings, action: &DlqAction) -> anyhow::Result<()> {
    match action {
        DlqAction::List {
            filter,
            limit,
            offset,
            json,
        } => list(settings, &filter.filter()?, *limit, *offset, *json).await,
        DlqAction::Groups { filter, json } => groups(settings, &filter.filter()?, *json).await,
        DlqAction::Show { id, payload } => show(settings, *id, *payload).await,
        DlqAction::Replay {
            filter,
            rate,
            dry_run,
        } => replay(settings, &filter.filter()?, *rate, *dry_run).await,
        DlqAction::Edit { id, payload } => edit(settings, *id, payload.as_deref()).await,
        DlqAction::Purge { filter, yes } => purge(settings, &filter.filter()?, *yes).await,
        DlqAction::Archive {
            older_than_days,
            retention_days,
        } => {
            let w = workbench(settings).await?;
            let (archived, deleted) = w
                .archive(*older_than_days, *retention_days, &actor())
                .await?;
            println!("archived {archived} messages; deleted {deleted} archived past retention");
            Ok(())
        }
    }
}

async fn list(
    settings: &Settings,
    filter: &DeadLetterFilter,
    limit: i64,
    offset: i64,
    json: bool,
) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database_url, 2).await?;
    let total = store.count_dead_letters(filter).await?;
    let items = store.list_dead_letters(filter, limit, offset).await?;
    if json {
        println!("{}", serde_json::json!({ "total": total, "items": items }));
        return Ok(());
    }
    println!("{total} messages");
    for d in items {
        println!(
            "{:>6}  {}  {:<10} {:<12} {:<22} {:<16} {}",
            d.id,
            d.parked_at.format("%Y-%m-%d %H:%M:%S"),
            d.integration,
            d.error_class,
            d.error_code,
            d.group_id,
            d.payload_preview
        );
    }
    Ok(())
}

async fn groups(settings: &Settings, filter: &DeadLetterFilter, json: bool) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database_url, 2).await?;
    let groups = store.dead_letter_groups(filter).await?;
    if json {
        println!("{}", serde_json::to_string(&groups)?);
        return Ok(());
    }
    println!("{} groups", groups.len());
    for g in groups {
        println!(
            "{}  {:>6} × {:<10} {:<12} {:<22} first {} last {}\n      {}",
            g.group_id,
            g.count,
            g.integration,
            g.error_class,
            g.error_code,
            g.first_seen.format("%Y-%m-%d %H:%M"),
            g.last_seen.format("%Y-%m-%d %H:%M"),
            g.error_normalized
        );
    }
    Ok(())
}

async fn show(settings: &Settings, id: i64, reveal: bool) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database_url, 2).await?;
    let Some(record) = store.dead_letter(id).await? else {
        bail!("no dead letter with id {id}; list them with `switchyard dlq list`");
    };
    let attempts = store.attempts(&record.message_id).await?;
    let mut out = serde_json::json!({ "record": record, "attempts": attempts });
    if reveal {
        let w = workbench(settings).await?;
        out["payload"] = w.reveal(id, &actor()).await?;
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

async fn replay(
    settings: &Settings,
    filter: &DeadLetterFilter,
    rate: NonZeroU32,
    dry_run: bool,
) -> anyhow::Result<()> {
    let w = workbench(settings).await?;
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping after the current message…");
            on_signal.cancel();
        }
    });
    let progress = |r: &switchyard_admin::ReplayReport| {
        eprint!(
            "\rreplayed {}/{} (skipped {}, failed {})",
            r.replayed, r.matched, r.skipped, r.failed
        );
        let _ = std::io::stderr().flush();
    };
    let report = w
        .replay(filter, rate, dry_run, &actor(), &cancel, progress)
        .await?;
    if dry_run {
        println!(
            "{} messages would be replayed: {:?}",
            report.matched, report.ids
        );
        return Ok(());
    }
    if report.matched == 0 {
        println!("0 messages");
        return Ok(());
    }
    eprintln!();
    println!(
        "replayed {} of {} ({} already handled elsewhere, {} failed and still parked){}",
        report.replayed,
        report.matched,
        report.skipped,
        report.failed,
        if report.interrupted {
            "; interrupted: the rest are still parked"
        } else {
            ""
        }
    );
    Ok(())
}

async fn edit(settings: &Settings, id: i64, file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let w = workbench(settings).await?;
    let payload: Value = match file {
        Some(path) => serde_json::from_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("{} is not JSON", path.display()))?,
        None => edit_in_editor(&w, id).await?,
    };
    let report = w.edit_and_replay(id, payload, &actor()).await?;
    println!(
        "sent the edited message as {} (changed: {})",
        report.new_message_id,
        report.changed.join(", ")
    );
    Ok(())
}

async fn edit_in_editor(w: &Workbench, id: i64) -> anyhow::Result<Value> {
    let current = w.reveal(id, &actor()).await?;
    let path =
        std::env::temp_dir().join(format!("switchyard-dlq-{id}-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_string_pretty(&current["payload"])?)?;
    let editor = std::env::var("EDITOR").unwrap_or_else(|_| "vi".into());
    let status = std::process::Command::new(&editor)
        .arg(&path)
        .status()
        .with_context(|| format!("starting $EDITOR ({editor})"))?;
    let text = std::fs::read_to_string(&path)?;
    let _ = std::fs::remove_file(&path);
    if !status.success() {
        bail!("the editor exited with {status}; nothing was sent");
    }
    serde_json::from_str(&text).context("the edited payload is not JSON; nothing was sent")
}

async fn purge(settings: &Settings, filter: &DeadLetterFilter, yes: bool) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database_url, 2).await?;
    let count = store.count_dead_letters(filter).await?;
    if count == 0 {
        println!("0 messages");
        return Ok(());
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!("purging {count} messages needs confirmation: pass --yes");
        }
        eprint!("purge {count} messages? this cannot be undone [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !answer.trim().eq_ignore_ascii_case("y") {
            println!("nothing purged");
            return Ok(());
        }
    }
    let w = workbench(settings).await?;
    println!("purged {}", w.purge(filter, &actor()).await?);
    Ok(())
}

/// `switchyard audit list`.
pub async fn audit(settings: &Settings, limit: i64, json: bool) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database_url, 2).await?;
    let entries = store.audit_list(limit).await?;
    if json {
        println!("{}", serde_json::to_string(&entries)?);
        return Ok(());
    }
    for e in entries {
        println!(
            "{}  {:<28} {:<20} {:>6}  {}",
            e.at.format("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.action,
            e.count,
            e.target
        );
    }
    Ok(())
}
