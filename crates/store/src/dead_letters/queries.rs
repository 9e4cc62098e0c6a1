//! Storing parked messages and reading them back: listings, counts, groups, one record, its
//! payload, and the parked-per-integration gauge.

use chrono::{DateTime, Utc};
use diesel::dsl::{count_star, max, min};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::filter::predicate;
use super::records::SummaryRow;
use super::{
    DeadLetterFilter, DeadLetterGroup, DeadLetterRecord, DeadLetterStatus, DeadLetterSummary,
    NewDeadLetter, PayloadCipher, group_id, normalize_error, preview,
};
use crate::schema::dead_letters::{self, dsl as d};
use crate::{Store, StoreError};

/// Most summaries or groups one call returns.
const MAX_LIST: i64 = 10_000;

#[derive(Insertable)]
#[diesel(table_name = dead_letters, check_for_backend(diesel::pg::Pg))]
struct NewRow<'a> {
    dedupe_key: &'a str,
    integration: &'a str,
    queue: &'a str,
    message_id: &'a str,
    message_type: Option<&'a str>,
    tenant: Option<&'a str>,
    original_routing_key: &'a str,
    headers: &'a serde_json::Value,
    reason: &'a str,
    error_class: &'a str,
    error_code: &'a str,
    error_normalized: String,
    group_id: String,
    attempts: i32,
    first_failure_at: Option<DateTime<Utc>>,
    last_failure_at: Option<DateTime<Utc>>,
    worker: Option<&'a str>,
    payload_key_id: String,
    payload: Vec<u8>,
    payload_preview: String,
}

impl<'a> NewRow<'a> {
    fn new(dl: &'a NewDeadLetter, cipher: &PayloadCipher) -> Self {
        let error_normalized = normalize_error(&dl.reason);
        let group = group_id(
            &dl.integration,
            &dl.error_class,
            &dl.error_code,
            &error_normalized,
        );
        let (payload_key_id, payload) = cipher.encrypt(&dl.body);
        NewRow {
            dedupe_key: &dl.dedupe_key,
            integration: &dl.integration,
            queue: &dl.queue,
            message_id: &dl.message_id,
            message_type: dl.message_type.as_deref(),
            tenant: dl.tenant.as_deref(),
            original_routing_key: &dl.original_routing_key,
            headers: &dl.headers,
            reason: &dl.reason,
            error_class: &dl.error_class,
            error_code: &dl.error_code,
            error_normalized,
            group_id: group,
            attempts: dl.attempts,
            first_failure_at: dl.first_failure_at,
            last_failure_at: dl.last_failure_at,
            worker: dl.worker.as_deref(),
            payload_key_id,
            payload,
            payload_preview: preview(&dl.body),
        }
    }
}

impl Store {
    /// Stores a parked message with its payload encrypted. Returns the new record's id, or
    /// `None` when a record with the same `dedupe_key` exists (a redelivered parked copy).
    pub async fn insert_dead_letter(
        &self,
        dl: &NewDeadLetter,
        cipher: &PayloadCipher,
    ) -> Result<Option<i64>, StoreError> {
        if dl.dedupe_key.is_empty() || dl.integration.is_empty() || dl.attempts < 0 {
            return Err(StoreError::Invalid(format!(
                "dead letter {:?} needs a dedupe key, an integration and attempts ≥ 0",
                dl.message_id
            )));
        }
        let mut conn = self.conn().await?;
        let id = diesel::insert_into(dead_letters::table)
            .values(NewRow::new(dl, cipher))
            .on_conflict(d::dedupe_key)
            .do_nothing()
            .returning(d::id)
            .get_result(&mut conn)
            .await
            .optional()?;
        Ok(id)
    }

    /// Records matching `f`, newest first; `limit` is capped at 10 000.
    pub async fn list_dead_letters(
        &self,
        f: &DeadLetterFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<DeadLetterSummary>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<SummaryRow> = dead_letters::table
            .filter(predicate(f))
            .order((d::parked_at.desc(), d::id.desc()))
            .limit(limit.clamp(0, MAX_LIST))
            .offset(offset.max(0))
            .select(SummaryRow::as_select())
            .load(&mut conn)
            .await?;
        Ok(rows.into_iter().map(DeadLetterSummary::from).collect())
    }

    /// How many records match `f`.
    pub async fn count_dead_letters(&self, f: &DeadLetterFilter) -> Result<i64, StoreError> {
        let mut conn = self.conn().await?;
        let count = dead_letters::table
            .filter(predicate(f))
            .count()
            .get_result(&mut conn)
            .await?;
        Ok(count)
    }

    /// The records matching `f`, grouped by cause, biggest group first (at most 10 000).
    /// First and last seen are the oldest and newest `parked_at` in the group.
    pub async fn dead_letter_groups(
        &self,
        f: &DeadLetterFilter,
    ) -> Result<Vec<DeadLetterGroup>, StoreError> {
        let mut conn = self.conn().await?;
        let groups = dead_letters::table
            .filter(predicate(f))
            .group_by((
                d::group_id,
                d::integration,
                d::error_class,
                d::error_code,
                d::error_normalized,
            ))
            .select((
                d::group_id,
                d::integration,
                d::error_class,
                d::error_code,
                d::error_normalized,
                count_star(),
                // A group has at least one row, so neither aggregate is NULL.
                min(d::parked_at).assume_not_null(),
                max(d::parked_at).assume_not_null(),
            ))
            .order((count_star().desc(), max(d::parked_at).desc()))
            .limit(MAX_LIST)
            .load(&mut conn)
            .await?;
        Ok(groups)
    }

    /// One record in any status, without its payload; `None` if no record has that id.
    pub async fn dead_letter(&self, id: i64) -> Result<Option<DeadLetterRecord>, StoreError> {
        let mut conn = self.conn().await?;
        let record = dead_letters::table
            .find(id)
            .select(DeadLetterRecord::as_select())
            .first(&mut conn)
            .await
            .optional()?;
        Ok(record)
    }

    /// The decrypted payload of one record; `None` if no record has that id. Fails with
    /// [`StoreError::PayloadPurged`] once purged. Callers audit who saw it.
    pub async fn dead_letter_payload(
        &self,
        id: i64,
        cipher: &PayloadCipher,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut conn = self.conn().await?;
        let stored: Option<(String, Vec<u8>)> = dead_letters::table
            .find(id)
            .select((d::payload_key_id, d::payload))
            .first(&mut conn)
            .await
            .optional()?;
        match stored {
            None => Ok(None),
            Some((_, blob)) if blob.is_empty() => Err(StoreError::PayloadPurged { id }),
            Some((key_id, blob)) => cipher.decrypt(&key_id, &blob).map(Some),
        }
    }

    /// Parked records per integration, for the gauge; integrations with none are absent.
    pub async fn parked_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut conn = self.conn().await?;
        let counts = dead_letters::table
            .filter(d::status.eq(DeadLetterStatus::Parked.as_str()))
            .group_by(d::integration)
            .select((d::integration, count_star()))
            .order(d::integration.asc())
            .load(&mut conn)
            .await?;
        Ok(counts)
    }
}
