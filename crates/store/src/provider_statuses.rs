//! Provider status reports that arrive before their delivery is known (see the migration
//! `pending_provider_statuses`): kept, then applied when the delivery is recorded.

use diesel::QueryableByName;
use diesel::pg::Pg;
use diesel::query_builder::{Query, QueryFragment, QueryId};
use diesel::sql_types::{Nullable, Text, Untyped};
use diesel_async::RunQueryDsl;

use crate::deliveries::StatusReport;
use crate::prepared::Prepared;
use crate::{DeliveryStatus, Store, StoreError};

/// What [`Store::record_provider_status`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusRecorded {
    /// The delivery exists and was updated (or the report was older than what it has).
    Applied,
    /// No delivery has this provider reference yet; the report is kept and applied when it
    /// is recorded.
    Pending,
}

/// A report taken from the pending table.
#[derive(QueryableByName)]
pub(crate) struct PendingRow {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    error_code: Option<String>,
}

const INSERT_PENDING: &str = "INSERT INTO pending_provider_statuses (integration, provider_ref, status, error_code) \
     VALUES ($1, $2, $3, $4)";

const TAKE_PENDING: &str = "DELETE FROM pending_provider_statuses \
     WHERE integration = $1 AND provider_ref = $2 RETURNING status, error_code";

/// Takes (deletes and returns) the reports kept for `provider_ref`.
pub(crate) fn take_pending<'a>(
    integration: &'a str,
    provider_ref: &'a str,
) -> Prepared<impl Query<SqlType = Untyped> + QueryFragment<Pg> + QueryId + Send + 'a> {
    Prepared(
        diesel::sql_query(TAKE_PENDING)
            .bind::<Text, _>(integration)
            .bind::<Text, _>(provider_ref),
    )
}

impl Store {
    /// Records a status the provider reported for `provider_ref`: applied to the delivery if it
    /// is known, else kept until [`Store::upsert_delivery`] records that reference.
    pub async fn record_provider_status(
        &self,
        integration: &str,
        provider_ref: &str,
        status: DeliveryStatus,
        error_code: Option<&str>,
    ) -> Result<StatusRecorded, StoreError> {
        // Reports recorded concurrently are applied together, in one statement (group commit).
        let report = StatusReport {
            integration: integration.to_owned(),
            provider_ref: provider_ref.to_owned(),
            status,
            error_code: error_code.map(str::to_owned),
        };
        if self.status_reports.submit(report).await? {
            return Ok(StatusRecorded::Applied);
        }
        let mut conn = self.conn().await?;
        let insert = diesel::sql_query(INSERT_PENDING)
            .bind::<Text, _>(integration)
            .bind::<Text, _>(provider_ref)
            .bind::<Text, _>(status.as_str())
            .bind::<Nullable<Text>, _>(error_code);
        Prepared(insert).execute(&mut conn).await?;
        drop(conn);
        // The delivery may have been recorded between the update and the insert; it adopted
        // nothing then, so adopt now. Both sides check after writing: nothing is left behind.
        self.adopt_pending(integration, provider_ref).await?;
        Ok(StatusRecorded::Pending)
    }

    /// Applies (and removes) the reports kept for `provider_ref`, in the usual forward-only way.
    pub(crate) async fn adopt_pending(
        &self,
        integration: &str,
        provider_ref: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<PendingRow> = take_pending(integration, provider_ref)
            .load(&mut conn)
            .await?;
        drop(conn);
        self.apply_pending(integration, provider_ref, rows).await
    }

    /// Applies reports just taken from the pending table for `provider_ref`.
    pub(crate) async fn apply_pending(
        &self,
        integration: &str,
        provider_ref: &str,
        rows: Vec<PendingRow>,
    ) -> Result<(), StoreError> {
        for row in rows {
            let status: DeliveryStatus = row.status.parse().map_err(|_| StoreError::Corrupt {
                column: "pending_provider_statuses.status",
                value: row.status.clone(),
            })?;
            let found = self
                .update_delivery_by_provider_ref(
                    integration,
                    provider_ref,
                    status,
                    row.error_code.as_deref(),
                )
                .await?;
            if !found {
                // Raced with a concurrent adopter that has not committed its delivery yet: keep it.
                let mut conn = self.conn().await?;
                let insert = diesel::sql_query(INSERT_PENDING)
                    .bind::<Text, _>(integration)
                    .bind::<Text, _>(provider_ref)
                    .bind::<Text, _>(status.as_str())
                    .bind::<Nullable<Text>, _>(row.error_code.as_deref());
                Prepared(insert).execute(&mut conn).await?;
            }
        }
        Ok(())
    }
}
