//! Delivery status: one row per (integration, message_id), only ever moved forward.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Nullable, Text};
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};

use crate::batch::{Found, found_each};
use crate::prepared::Prepared;
use crate::provider_statuses::PendingRow;
use crate::schema::deliveries;
use crate::{DeliveryStatus, Pool, Store, StoreError};

/// A status to record for a delivery (creating the row if needed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryUpdate {
    /// The message's id.
    pub message_id: String,
    /// The integration delivering it (`sms`, `email`, …).
    pub integration: String,
    /// The message type, e.g. `sms.send`.
    pub message_type: String,
    /// The tenant, if any.
    pub tenant: Option<String>,
    /// The new status.
    pub status: DeliveryStatus,
    /// The provider's id for the delivery; kept when the update carries none.
    pub provider_ref: Option<String>,
    /// The provider's or Switchyard's error code, for failed statuses.
    pub error_code: Option<String>,
}

/// The current status of a delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// The message's id.
    pub message_id: String,
    /// The integration delivering it.
    pub integration: String,
    /// The message type.
    pub message_type: String,
    /// The tenant, if any.
    pub tenant: Option<String>,
    /// The current status.
    pub status: DeliveryStatus,
    /// The provider's id for the delivery, once known.
    pub provider_ref: Option<String>,
    /// The error code of the current status, if any.
    pub error_code: Option<String>,
    /// When the delivery was first recorded.
    pub created_at: DateTime<Utc>,
    /// When the status last changed.
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = deliveries, check_for_backend(diesel::pg::Pg))]
struct DeliveryRow {
    message_id: String,
    integration: String,
    message_type: String,
    tenant: Option<String>,
    status: String,
    provider_ref: Option<String>,
    error_code: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<DeliveryRow> for DeliveryRecord {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<Self, StoreError> {
        let status = row.status.parse().map_err(|_| StoreError::Corrupt {
            column: "deliveries.status",
            value: row.status.clone(),
        })?;
        Ok(DeliveryRecord {
            message_id: row.message_id,
            integration: row.integration,
            message_type: row.message_type,
            tenant: row.tenant,
            status,
            provider_ref: row.provider_ref,
            error_code: row.error_code,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Insert, or move an existing row forward. The rank check sits in the conflict clause, so
/// it is evaluated against the row as locked, even when two callbacks race.
static UPSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO deliveries AS d \
           (integration, message_id, message_type, tenant, status, provider_ref, error_code) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (integration, message_id) DO UPDATE SET \
           status = EXCLUDED.status, \
           provider_ref = COALESCE(EXCLUDED.provider_ref, d.provider_ref), \
           error_code = EXCLUDED.error_code, \
           updated_at = now() \
         WHERE {} >= {}",
        DeliveryStatus::rank_sql("EXCLUDED.status"),
        DeliveryStatus::rank_sql("d.status"),
    )
});

/// Touches every matching row (so the count says whether the delivery exists) but changes it
/// only when the new status does not go backwards. CASE is re-evaluated on the locked row.
static UPDATE_BY_REF: LazyLock<String> = LazyLock::new(|| {
    let forward = format!(
        "{} >= {}",
        DeliveryStatus::rank_sql("$3::text"),
        DeliveryStatus::rank_sql("status")
    );
    format!(
        "UPDATE deliveries SET \
           status = CASE WHEN {forward} THEN $3::text ELSE status END, \
           error_code = CASE WHEN {forward} THEN $4 ELSE error_code END, \
           updated_at = CASE WHEN {forward} THEN now() ELSE updated_at END \
         WHERE integration = $1 AND provider_ref = $2"
    )
});

/// [`UPDATE_BY_REF`] for a batch of reports: one array per column, at most one report per
/// (integration, provider_ref) (see [`StatusReport::fold`]). Returns the references found.
static UPDATE_MANY_BY_REF: LazyLock<String> = LazyLock::new(|| {
    let forward = format!(
        "{} >= {}",
        DeliveryStatus::rank_sql("v.status"),
        DeliveryStatus::rank_sql("d.status")
    );
    format!(
        "UPDATE deliveries AS d SET \
           status = CASE WHEN {forward} THEN v.status ELSE d.status END, \
           error_code = CASE WHEN {forward} THEN v.error_code ELSE d.error_code END, \
           updated_at = CASE WHEN {forward} THEN now() ELSE d.updated_at END \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) \
           AS v(integration, provider_ref, status, error_code) \
         WHERE d.integration = v.integration AND d.provider_ref = v.provider_ref \
         RETURNING d.integration, d.provider_ref AS key"
    )
});

/// A status the provider reported for one of its references.
#[derive(Clone, Debug)]
pub(crate) struct StatusReport {
    pub(crate) integration: String,
    pub(crate) provider_ref: String,
    pub(crate) status: DeliveryStatus,
    pub(crate) error_code: Option<String>,
}

impl StatusReport {
    /// Folds reports for the same reference into one, as applying them one after the other
    /// would end: a report replaces the one before unless it ranks lower. One report per row
    /// is what an `UPDATE … FROM` needs (it applies only one of several matches).
    fn fold(reports: &[StatusReport]) -> Vec<StatusReport> {
        let mut folded: Vec<StatusReport> = Vec::with_capacity(reports.len());
        for report in reports {
            let same = folded.iter_mut().find(|f| {
                f.integration == report.integration && f.provider_ref == report.provider_ref
            });
            match same {
                Some(f) if report.status.rank() >= f.status.rank() => *f = report.clone(),
                Some(_) => {}
                None => folded.push(report.clone()),
            }
        }
        folded
    }
}

/// Applies `reports` in one statement and one commit; answers, per report, whether a delivery
/// has its reference.
pub(crate) async fn update_many_by_ref(
    pool: &Pool,
    reports: Vec<StatusReport>,
) -> Result<Vec<bool>, StoreError> {
    let folded = StatusReport::fold(&reports);
    let mut columns: [Vec<Option<String>>; 4] = Default::default();
    for r in &folded {
        columns[0].push(Some(r.integration.clone()));
        columns[1].push(Some(r.provider_ref.clone()));
        columns[2].push(Some(r.status.as_str().to_owned()));
        columns[3].push(r.error_code.clone());
    }
    let [integration, provider_ref, status, error_code] = columns;
    let update = diesel::sql_query(UPDATE_MANY_BY_REF.as_str())
        .bind::<Array<Nullable<Text>>, _>(integration)
        .bind::<Array<Nullable<Text>>, _>(provider_ref)
        .bind::<Array<Nullable<Text>>, _>(status)
        .bind::<Array<Nullable<Text>>, _>(error_code);
    let mut conn = crate::checkout(pool).await?;
    let found: Vec<Found> = Prepared(update).load(&mut conn).await?;
    Ok(found_each(&reports, &found, |r| {
        (&r.integration, &r.provider_ref)
    }))
}

impl Store {
    /// Records `d.status` for the delivery, creating it if needed. An update that would move
    /// the status backwards (a late `sent` after `delivered`) is ignored. Provider reports that
    /// arrived for `d.provider_ref` before this call are applied now.
    pub async fn upsert_delivery(&self, d: &DeliveryUpdate) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        let upsert = Prepared(
            diesel::sql_query(UPSERT.as_str())
                .bind::<Text, _>(&d.integration)
                .bind::<Text, _>(&d.message_id)
                .bind::<Text, _>(&d.message_type)
                .bind::<Nullable<Text>, _>(d.tenant.as_deref())
                .bind::<Text, _>(d.status.as_str())
                .bind::<Nullable<Text>, _>(d.provider_ref.as_deref())
                .bind::<Nullable<Text>, _>(d.error_code.as_deref()),
        );
        let Some(provider_ref) = &d.provider_ref else {
            upsert.execute(&mut &*conn).await?;
            return Ok(());
        };
        // Pipelined: the upsert, then taking the pending reports, leave in this order before
        // either answer is read (the first future is polled first and sends at once), one round
        // trip for both. Each commits on its own, so Postgres looks for the reports only after
        // the delivery is committed, as two calls one after the other would; see
        // `record_provider_status` for why that order leaves nothing behind.
        let take = crate::provider_statuses::take_pending(&d.integration, provider_ref);
        let (upserted, pending) = tokio::join!(
            upsert.execute(&mut &*conn),
            take.load::<PendingRow>(&mut &*conn)
        );
        drop(conn);
        upserted?;
        self.apply_pending(&d.integration, provider_ref, pending?)
            .await
    }

    /// Records a status reported by the provider (a status callback), finding the delivery by
    /// the provider's id. Same ordering rule as [`Store::upsert_delivery`]. Returns `false`
    /// when no delivery has that `provider_ref`; `true` when one exists, even if the status
    /// was ignored as out of order.
    pub async fn update_delivery_by_provider_ref(
        &self,
        integration: &str,
        provider_ref: &str,
        status: DeliveryStatus,
        error_code: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let update = diesel::sql_query(UPDATE_BY_REF.as_str())
            .bind::<Text, _>(integration)
            .bind::<Text, _>(provider_ref)
            .bind::<Text, _>(status.as_str())
            .bind::<Nullable<Text>, _>(error_code);
        let rows = Prepared(update).execute(&mut conn).await?;
        Ok(rows > 0)
    }

    /// The current status of one delivery, if it was ever recorded.
    pub async fn delivery(
        &self,
        integration: &str,
        message_id: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let mut conn = self.conn().await?;
        let row = deliveries::table
            .find((integration, message_id))
            .select(DeliveryRow::as_select())
            .first(&mut conn)
            .await
            .optional()?;
        row.map(DeliveryRecord::try_from).transpose()
    }

    /// Every integration's delivery of `message_id` (usually one).
    pub async fn deliveries_of(&self, message_id: &str) -> Result<Vec<DeliveryRecord>, StoreError> {
        let mut conn = self.conn().await?;
        let rows = deliveries::table
            .filter(deliveries::message_id.eq(message_id))
            .order(deliveries::created_at)
            .select(DeliveryRow::as_select())
            .load(&mut conn)
            .await?;
        rows.into_iter().map(DeliveryRecord::try_from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(
        provider_ref: &str,
        status: DeliveryStatus,
        error_code: Option<&str>,
    ) -> StatusReport {
        StatusReport {
            integration: "sms".into(),
            provider_ref: provider_ref.into(),
            status,
            error_code: error_code.map(str::to_owned),
        }
    }

    #[test]
    fn reports_for_one_reference_fold_as_if_applied_in_turn() {
        use DeliveryStatus::{Delivered, Failed, Sent};
        let folded = StatusReport::fold(&[
            report("SM1", Delivered, None),
            report("SM2", Sent, None),
            report("SM1", Sent, None),
            report("SM2", Failed, Some("30008")),
            report("SM3", Sent, None),
        ]);
        let summary: Vec<_> = folded
            .iter()
            .map(|r| (r.provider_ref.as_str(), r.status, r.error_code.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("SM1", Delivered, None),
                ("SM2", Failed, Some("30008")),
                ("SM3", Sent, None)
            ]
        );
    }

    #[test]
    fn a_later_report_of_the_same_rank_wins() {
        use DeliveryStatus::{Delivered, Undelivered};
        let folded = StatusReport::fold(&[
            report("SM1", Delivered, None),
            report("SM1", Undelivered, Some("30005")),
        ]);
        assert_eq!(folded.len(), 1);
        assert_eq!(folded[0].status, Undelivered);
    }
}
