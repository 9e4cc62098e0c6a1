//! What the workbench reads back: summaries for listings, full records, groups.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};

use super::DeadLetterStatus;
use crate::StoreError;
use crate::schema::dead_letters;

/// One line of a listing: enough to recognise a failure, nothing secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterSummary {
    /// Record id, used by `show`, `replay`, `edit` and `purge`.
    pub id: i64,
    /// The integration that parked it.
    pub integration: String,
    /// The message's id.
    pub message_id: String,
    /// The message type, if known.
    pub message_type: Option<String>,
    /// The tenant, if any.
    pub tenant: Option<String>,
    /// The error class.
    pub error_class: String,
    /// The error code.
    pub error_code: String,
    /// Why it was parked.
    pub reason: String,
    /// The group of failures with the same cause.
    pub group_id: String,
    /// How many attempts were made.
    pub attempts: i32,
    /// Where the record stands.
    pub status: DeadLetterStatus,
    /// When it was stored.
    pub parked_at: DateTime<Utc>,
    /// The masked payload excerpt (see [`preview`](super::preview)).
    pub payload_preview: String,
}

/// Everything known about a dead letter except its payload, which needs the admin role and
/// [`Store::dead_letter_payload`](crate::Store::dead_letter_payload).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Queryable, Selectable)]
#[diesel(table_name = dead_letters, check_for_backend(diesel::pg::Pg))]
pub struct DeadLetterRecord {
    /// Record id.
    pub id: i64,
    /// Identifies the parked copy it was stored from.
    pub dedupe_key: String,
    /// The integration that parked it.
    pub integration: String,
    /// The parking queue it was read from.
    pub queue: String,
    /// The message's id.
    pub message_id: String,
    /// The message type, if known.
    pub message_type: Option<String>,
    /// The tenant, if any.
    pub tenant: Option<String>,
    /// The routing key it was first published with.
    pub original_routing_key: String,
    /// The AMQP headers, including `x-death`.
    pub headers: serde_json::Value,
    /// Why it was parked.
    pub reason: String,
    /// The error class.
    pub error_class: String,
    /// The error code.
    pub error_code: String,
    /// The reason with ids, numbers, phones and emails replaced (see
    /// [`normalize_error`](super::normalize_error)).
    pub error_normalized: String,
    /// The group of failures with the same cause.
    pub group_id: String,
    /// How many attempts were made.
    pub attempts: i32,
    /// When the first attempt failed, if known.
    pub first_failure_at: Option<DateTime<Utc>>,
    /// When the last attempt failed, if known.
    pub last_failure_at: Option<DateTime<Utc>>,
    /// The worker instance that parked it, if known.
    pub worker: Option<String>,
    /// The masked payload excerpt; `<purged>` once purged.
    pub payload_preview: String,
    /// Where the record stands.
    #[diesel(deserialize_as = StatusColumn)]
    pub status: DeadLetterStatus,
    /// When it was stored.
    pub parked_at: DateTime<Utc>,
    /// When it was replayed.
    pub replayed_at: Option<DateTime<Utc>>,
    /// When an edited message replaced it.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The id of the message sent in its place (replay or edit-and-replay).
    pub replay_message_id: Option<String>,
    /// The edit made before sending it again, as given to
    /// [`Store::resolve_dead_letter_with_edit`](crate::Store::resolve_dead_letter_with_edit).
    pub edit_diff: Option<serde_json::Value>,
    /// When it was archived.
    pub archived_at: Option<DateTime<Utc>>,
}

/// Failures of one cause: same integration, class, code and normalised message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Queryable)]
pub struct DeadLetterGroup {
    /// The group's id (see [`group_id`](super::group_id)).
    pub group_id: String,
    /// The integration.
    pub integration: String,
    /// The error class.
    pub error_class: String,
    /// The error code.
    pub error_code: String,
    /// The normalised error message shared by the group.
    pub error_normalized: String,
    /// How many records match the filter.
    pub count: i64,
    /// When the oldest of them was parked.
    pub first_seen: DateTime<Utc>,
    /// When the newest of them was parked.
    pub last_seen: DateTime<Utc>,
}

/// The `status` column, checked against [`DeadLetterStatus`] as it is read. Public only
/// because the derived `Queryable` names it; the module is private.
pub struct StatusColumn(DeadLetterStatus);

impl Queryable<Text, Pg> for StatusColumn {
    type Row = String;

    fn build(value: String) -> diesel::deserialize::Result<Self> {
        match value.parse() {
            Ok(status) => Ok(StatusColumn(status)),
            Err(_) => Err(Box::new(StoreError::Corrupt {
                column: "dead_letters.status",
                value,
            })),
        }
    }
}

impl From<StatusColumn> for DeadLetterStatus {
    fn from(column: StatusColumn) -> Self {
        column.0
    }
}

/// The columns of a [`DeadLetterSummary`].
#[derive(Queryable, Selectable)]
#[diesel(table_name = dead_letters, check_for_backend(diesel::pg::Pg))]
pub(super) struct SummaryRow {
    id: i64,
    integration: String,
    message_id: String,
    message_type: Option<String>,
    tenant: Option<String>,
    error_class: String,
    error_code: String,
    reason: String,
    group_id: String,
    attempts: i32,
    #[diesel(deserialize_as = StatusColumn)]
    status: DeadLetterStatus,
    parked_at: DateTime<Utc>,
    payload_preview: String,
}

impl From<SummaryRow> for DeadLetterSummary {
    fn from(row: SummaryRow) -> Self {
        DeadLetterSummary {
            id: row.id,
            integration: row.integration,
            message_id: row.message_id,
            message_type: row.message_type,
            tenant: row.tenant,
            error_class: row.error_class,
            error_code: row.error_code,
            reason: row.reason,
            group_id: row.group_id,
            attempts: row.attempts,
            status: row.status,
            parked_at: row.parked_at,
            payload_preview: row.payload_preview,
        }
    }
}
