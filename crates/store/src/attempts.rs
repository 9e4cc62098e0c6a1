//! The delivery log: one row per attempt, kept for people asking "what happened to message X?".

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text};
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};

use crate::prepared::Prepared;
use crate::schema::delivery_attempts;
use crate::{Pool, Store, StoreError};

/// One delivery attempt to record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = delivery_attempts, check_for_backend(diesel::pg::Pg))]
pub struct NewAttempt {
    /// The message's id.
    pub message_id: String,
    /// The integration that made the attempt (`sms`, `email`, …).
    pub integration: String,
    /// The message type, e.g. `sms.send`.
    pub message_type: String,
    /// The tenant, if any.
    pub tenant: Option<String>,
    /// Which attempt this was, as carried by the message.
    pub attempt: i32,
    /// `succeeded`, `retried`, `parked` or `duplicate`.
    pub outcome: String,
    /// The error class (`retryable`, `rate_limited`, `permanent`) when the attempt failed.
    pub error_class: Option<String>,
    /// The error code when the attempt failed.
    pub error_code: Option<String>,
    /// The provider's id for what it did, if it returned one.
    pub provider_ref: Option<String>,
    /// How long the attempt took, in milliseconds.
    pub duration_ms: i64,
}

/// A recorded delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Queryable, Selectable)]
#[diesel(table_name = delivery_attempts, check_for_backend(diesel::pg::Pg))]
pub struct AttemptRecord {
    /// Row id; increases with every attempt recorded.
    pub id: i64,
    /// The message's id.
    pub message_id: String,
    /// The integration that made the attempt.
    pub integration: String,
    /// The message type.
    pub message_type: String,
    /// The tenant, if any.
    pub tenant: Option<String>,
    /// Which attempt this was.
    pub attempt: i32,
    /// `succeeded`, `retried`, `parked` or `duplicate`.
    pub outcome: String,
    /// The error class when the attempt failed.
    pub error_class: Option<String>,
    /// The error code when the attempt failed.
    pub error_code: Option<String>,
    /// The provider's id for what it did, if any.
    pub provider_ref: Option<String>,
    /// How long the attempt took, in milliseconds.
    pub duration_ms: i64,
    /// When the attempt was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// Every row of a batch in one statement of fixed text (so it is prepared once): one array
/// per column, zipped back into rows by `unnest`, which keeps their order for the ids.
const INSERT_MANY: &str = "\
INSERT INTO delivery_attempts
  (message_id, integration, message_type, tenant, attempt, outcome, error_class, error_code,
   provider_ref, duration_ms)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::int8[])";

/// Writes `rows` in one statement and one commit.
pub(crate) async fn insert_many(pool: &Pool, rows: Vec<NewAttempt>) -> Result<Vec<()>, StoreError> {
    let n = rows.len();
    let mut columns = Columns::default();
    for row in rows {
        columns.message_id.push(row.message_id);
        columns.integration.push(row.integration);
        columns.message_type.push(row.message_type);
        columns.tenant.push(row.tenant);
        columns.attempt.push(row.attempt);
        columns.outcome.push(row.outcome);
        columns.error_class.push(row.error_class);
        columns.error_code.push(row.error_code);
        columns.provider_ref.push(row.provider_ref);
        columns.duration_ms.push(row.duration_ms);
    }
    let insert = diesel::sql_query(INSERT_MANY)
        .bind::<Array<Text>, _>(columns.message_id)
        .bind::<Array<Text>, _>(columns.integration)
        .bind::<Array<Text>, _>(columns.message_type)
        .bind::<Array<Nullable<Text>>, _>(columns.tenant)
        .bind::<Array<Integer>, _>(columns.attempt)
        .bind::<Array<Text>, _>(columns.outcome)
        .bind::<Array<Nullable<Text>>, _>(columns.error_class)
        .bind::<Array<Nullable<Text>>, _>(columns.error_code)
        .bind::<Array<Nullable<Text>>, _>(columns.provider_ref)
        .bind::<Array<BigInt>, _>(columns.duration_ms);
    let mut conn = crate::checkout(pool).await?;
    Prepared(insert).execute(&mut conn).await?;
    Ok(vec![(); n])
}

/// A batch of [`NewAttempt`]s, column by column.
#[derive(Default)]
struct Columns {
    message_id: Vec<String>,
    integration: Vec<String>,
    message_type: Vec<String>,
    tenant: Vec<Option<String>>,
    attempt: Vec<i32>,
    outcome: Vec<String>,
    error_class: Vec<Option<String>>,
    error_code: Vec<Option<String>>,
    provider_ref: Vec<Option<String>>,
    duration_ms: Vec<i64>,
}

impl Store {
    /// Appends one attempt to the delivery log, and returns once it is committed. Attempts
    /// recorded concurrently are written together, in one statement (group commit).
    pub async fn record_attempt(&self, attempt: &NewAttempt) -> Result<(), StoreError> {
        if attempt.attempt < 0 || attempt.duration_ms < 0 {
            return Err(StoreError::Invalid(format!(
                "attempt number and duration must not be negative, got attempt {} taking {} ms",
                attempt.attempt, attempt.duration_ms
            )));
        }
        self.attempt_log.submit(attempt.clone()).await
    }

    /// Every recorded attempt of one message (across integrations), oldest first.
    pub async fn attempts(&self, message_id: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        let mut conn = self.conn().await?;
        let records = delivery_attempts::table
            .filter(delivery_attempts::message_id.eq(message_id))
            // id breaks ties between attempts recorded within the same microsecond.
            .order((delivery_attempts::recorded_at, delivery_attempts::id))
            .select(AttemptRecord::as_select())
            .load(&mut conn)
            .await?;
        Ok(records)
    }
}
