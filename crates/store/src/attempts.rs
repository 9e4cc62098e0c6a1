//! The delivery log: one row per attempt, kept for people asking "what happened to message X?".

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};

use crate::prepared::Prepared;
use crate::schema::delivery_attempts;
use crate::{Store, StoreError};

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

impl Store {
    /// Appends one attempt to the delivery log.
    pub async fn record_attempt(&self, attempt: &NewAttempt) -> Result<(), StoreError> {
        if attempt.attempt < 0 || attempt.duration_ms < 0 {
            return Err(StoreError::Invalid(format!(
                "attempt number and duration must not be negative, got attempt {} taking {} ms",
                attempt.attempt, attempt.duration_ms
            )));
        }
        let mut conn = self.conn().await?;
        // `DEFAULT` stands in for each absent optional value, so there are a few SQL texts,
        // each prepared once per connection.
        let insert = diesel::insert_into(delivery_attempts::table).values(attempt);
        Prepared(insert).execute(&mut conn).await?;
        Ok(())
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
