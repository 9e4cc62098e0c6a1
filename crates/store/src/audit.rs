//! The audit log: who did what to how many. Append-only; the database refuses edits.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};

use crate::schema::audit_log;
use crate::{Store, StoreError};

/// Most entries [`Store::audit_list`] returns in one call.
const MAX_LIST: i64 = 10_000;

/// An admin action to record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg))]
pub struct NewAuditEntry {
    /// Who acted: an API key name or id, or `cli:<user>`.
    pub actor: String,
    /// What they did, e.g. `dlq.replay`, `api_key.revoke`.
    pub action: String,
    /// What they did it to: ids, filters, dry-run flag.
    pub target: serde_json::Value,
    /// How many items the action touched.
    pub count: i64,
}

/// A recorded admin action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Queryable, Selectable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg))]
pub struct AuditRecord {
    /// Row id; increases with every entry.
    pub id: i64,
    /// When the action was recorded.
    pub at: DateTime<Utc>,
    /// Who acted.
    pub actor: String,
    /// What they did.
    pub action: String,
    /// What they did it to.
    pub target: serde_json::Value,
    /// How many items the action touched.
    pub count: i64,
}

impl Store {
    /// Appends one entry to the audit log.
    pub async fn audit(&self, entry: &NewAuditEntry) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::insert_into(audit_log::table)
            .values(entry)
            .execute(&mut conn)
            .await?;
        Ok(())
    }

    /// The newest `limit` entries, newest first (`limit` is capped at 10 000).
    pub async fn audit_list(&self, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
        let mut conn = self.conn().await?;
        let records = audit_log::table
            .order((audit_log::at.desc(), audit_log::id.desc()))
            .limit(limit.clamp(0, MAX_LIST))
            .select(AuditRecord::as_select())
            .load(&mut conn)
            .await?;
        Ok(records)
    }
}
