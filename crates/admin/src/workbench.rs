//! The admin operations on dead letters, shared by the CLI and the admin API: replay
//! (rate-limited, filtered, dry run, interruptible), edit-and-replay, purge, archive, payload
//! reveal. Each is written to the audit log with who, what filter and how many.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{Quota, RateLimiter};
use serde::Serialize;
use serde_json::{Value, json};
use switchyard_broker::{Publisher, properties as props};
use switchyard_store::dead_letters::{
    DeadLetterFilter, DeadLetterRecord, PayloadCipher, ReplayOutcome,
};
use switchyard_store::{NewAuditEntry, Store};
use switchyard_telemetry::Metrics;
use tokio_util::sync::CancellationToken;

use crate::AdminError;

/// Header on a replayed message naming the dead-letter record it came from.
pub const REPLAY_OF: &str = "x-switchyard-replay-of";
/// Records fetched per page when collecting what a filter matches.
const PAGE: i64 = 500;

/// Everything the operations need.
#[derive(Clone)]
pub struct Workbench {
    /// Postgres.
    pub store: Store,
    /// Confirmed publishing.
    pub publisher: Publisher,
    /// Payload encryption.
    pub cipher: Arc<PayloadCipher>,
    /// Metrics.
    pub metrics: Metrics,
}

/// What a replay did (or, on a dry run, would do).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReplayReport {
    /// Records the filter matched when the replay started.
    pub matched: usize,
    /// Published and marked replayed.
    pub replayed: usize,
    /// No longer parked when their turn came (replayed or purged meanwhile).
    pub skipped: usize,
    /// Publish failed; still parked.
    pub failed: usize,
    /// Stopped early (Ctrl-C / cancelled); the rest are still parked.
    pub interrupted: bool,
    /// The matched record ids (all of them on a dry run).
    pub ids: Vec<i64>,
}

impl Workbench {
    /// Record ids the filter matches now, oldest first (replay order).
    pub async fn matching_ids(&self, filter: &DeadLetterFilter) -> Result<Vec<i64>, AdminError> {
        let mut ids = Vec::new();
        loop {
            let page = self
                .store
                .list_dead_letters(filter, PAGE, ids.len() as i64)
                .await?;
            let done = (page.len() as i64) < PAGE;
            ids.extend(page.into_iter().map(|s| s.id));
            if done {
                break;
            }
        }
        ids.reverse();
        Ok(ids)
    }

    /// Replays what `filter` matches at most `rate` per second, reporting progress after each
    /// record. Each record is either replayed (published with a confirm, then marked) or left
    /// parked — also when `cancel` fires midway.
    pub async fn replay(
        &self,
        filter: &DeadLetterFilter,
        rate: NonZeroU32,
        dry_run: bool,
        actor: &str,
        cancel: &CancellationToken,
        progress: impl Fn(&ReplayReport),
    ) -> Result<ReplayReport, AdminError> {
        let ids = self.matching_ids(filter).await?;
        let mut report = ReplayReport {
            matched: ids.len(),
            ..Default::default()
        };
        if dry_run {
            report.ids = ids;
            self.audit(
                actor,
                "dlq.replay.dry_run",
                json!({ "filter": filter }),
                report.matched as i64,
            )
            .await?;
            return Ok(report);
        }
        if !ids.is_empty() && !self.publisher.broker().is_connected() {
            return Err(AdminError::BrokerDown);
        }
        let limiter = RateLimiter::direct(Quota::per_second(rate).allow_burst(NonZeroU32::MIN));
        for id in &ids {
            if cancel.is_cancelled() {
                report.interrupted = true;
                break;
            }
            tokio::select! {
                _ = cancel.cancelled() => { report.interrupted = true; break; }
                _ = limiter.until_ready() => {}
            }
            let outcome = self
                .store
                .replay_dead_letter(*id, &self.cipher, |record, body| self.publish(record, body))
                .await?;
            self.tally(&mut report, *id, outcome);
            progress(&report);
        }
        let target = json!({ "filter": filter, "rate_per_sec": rate.get(), "interrupted": report.interrupted, "skipped": report.skipped, "failed": report.failed });
        self.audit(actor, "dlq.replay", target, report.replayed as i64)
            .await?;
        Ok(report)
    }

    fn tally(&self, report: &mut ReplayReport, id: i64, outcome: ReplayOutcome) {
        report.ids.push(id);
        match outcome {
            ReplayOutcome::Replayed(_) => report.replayed += 1,
            ReplayOutcome::NotParked => report.skipped += 1,
            ReplayOutcome::PublishFailed(error) => {
                tracing::warn!(id, %error, "replay failed; the record stays parked");
                report.failed += 1;
            }
        }
    }

    /// Publishes a parked body back to its own work queue only (the default exchange, routed by
    /// queue name — never to the other bindings of its type), as attempt 1, linked to its record.
    pub(crate) async fn publish(
        &self,
        record: DeadLetterRecord,
        body: Vec<u8>,
    ) -> Result<String, String> {
        let topology = self.publisher.broker().topology();
        let queue = topology.work_queue(&record.integration);
        let message_type = record.message_type.clone().unwrap_or_default();
        let mut headers = lapin::types::FieldTable::default();
        headers.insert(REPLAY_OF.into(), props::text(&record.id.to_string()));
        headers.insert(
            props::ORIGINAL_ROUTING_KEY.into(),
            props::text(&record.original_routing_key),
        );
        let properties =
            props::for_envelope(&record.message_id, &message_type, None).with_headers(headers);
        self.publisher
            .publish("", &queue, &body, properties, true)
            .await
            .map_err(|e| e.to_string())?;
        self.metrics
            .dead_letters_replayed
            .get_or_create(&Metrics::integration(&record.integration))
            .inc();
        Ok(record.message_id)
    }

    /// Purges what `filter` matches (payload bytes erased); returns how many.
    pub async fn purge(&self, filter: &DeadLetterFilter, actor: &str) -> Result<i64, AdminError> {
        let purged = self.store.purge_dead_letters(filter).await?;
        self.metrics
            .dead_letters_purged
            .inc_by(purged.unsigned_abs());
        self.audit(actor, "dlq.purge", json!({ "filter": filter }), purged)
            .await?;
        Ok(purged)
    }

    /// Archives parked records older than `days`; then deletes archived rows older than
    /// `retention_days`. Returns (archived, deleted).
    pub async fn archive(
        &self,
        days: i64,
        retention_days: Option<i64>,
        actor: &str,
    ) -> Result<(i64, i64), AdminError> {
        let archived = self
            .store
            .archive_dead_letters(chrono::Duration::days(days))
            .await?;
        let deleted = match retention_days {
            Some(keep) => self.store.delete_archived(keep).await?,
            None => 0,
        };
        self.audit(actor, "dlq.archive", json!({ "older_than_days": days, "retention_days": retention_days, "deleted": deleted }), archived).await?;
        Ok((archived, deleted))
    }

    /// The decrypted payload of one record (admins only); the reveal is audited.
    pub async fn reveal(&self, id: i64, actor: &str) -> Result<Value, AdminError> {
        let bytes = self
            .store
            .dead_letter_payload(id, &self.cipher)
            .await?
            .ok_or(AdminError::NotFound(id))?;
        self.audit(actor, "dlq.payload.reveal", json!({ "id": id }), 1)
            .await?;
        Ok(serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())))
    }

    pub(crate) async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: Value,
        count: i64,
    ) -> Result<(), AdminError> {
        let entry = NewAuditEntry {
            actor: actor.to_owned(),
            action: action.to_owned(),
            target,
            count,
        };
        Ok(self.store.audit(&entry).await?)
    }
}
