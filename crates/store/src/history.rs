//! "What happened to message X": its delivery per integration, every status it went through
//! (the `delivery_events` trigger records them), and every attempt the runtime made.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::schema::delivery_events;
use crate::{AttemptRecord, DeliveryRecord, DeliveryStatus, Store, StoreError};

/// One status a delivery reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveryEvent {
    /// The integration that moved it.
    pub integration: String,
    /// The status reached.
    pub status: DeliveryStatus,
    /// The provider's id, once known.
    pub provider_ref: Option<String>,
    /// Why it failed or was parked.
    pub error_code: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// Everything recorded about one message.
#[derive(Clone, Debug)]
pub struct MessageHistory {
    /// The current status per integration.
    pub deliveries: Vec<DeliveryRecord>,
    /// Every status change, oldest first.
    pub events: Vec<DeliveryEvent>,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptRecord>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = delivery_events, check_for_backend(diesel::pg::Pg))]
struct EventRow {
    integration: String,
    status: String,
    provider_ref: Option<String>,
    error_code: Option<String>,
    at: DateTime<Utc>,
}

impl TryFrom<EventRow> for DeliveryEvent {
    type Error = StoreError;

    fn try_from(row: EventRow) -> Result<Self, StoreError> {
        Ok(DeliveryEvent {
            integration: row.integration,
            status: row.status.parse().map_err(|_| StoreError::Corrupt {
                column: "delivery_events.status",
                value: row.status.clone(),
            })?,
            provider_ref: row.provider_ref,
            error_code: row.error_code,
            at: row.at,
        })
    }
}

impl Store {
    /// The history of `message_id`, or `None` when nothing was recorded for it (unknown, or
    /// still waiting in its queue).
    pub async fn message_history(
        &self,
        message_id: &str,
    ) -> Result<Option<MessageHistory>, StoreError> {
        let deliveries = self.deliveries_of(message_id).await?;
        let attempts = self.attempts(message_id).await?;
        if deliveries.is_empty() && attempts.is_empty() {
            return Ok(None);
        }
        let mut conn = self.conn().await?;
        let events = delivery_events::table
            .filter(delivery_events::message_id.eq(message_id))
            .order(delivery_events::id)
            .select(EventRow::as_select())
            .load(&mut conn)
            .await?
            .into_iter()
            .map(DeliveryEvent::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Some(MessageHistory {
            deliveries,
            events,
            attempts,
        }))
    }
}
