//! Getting rid of dead letters: purge (an admin's decision, payload destroyed at once),
//! archive (by age) and retention (deleting archived rows for good).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::filter::predicate;
use super::{DeadLetterFilter, DeadLetterStatus};
use crate::schema::dead_letters::{self, dsl as d};
use crate::{Store, StoreError};

/// What a purged record shows instead of its preview.
const PURGED_PREVIEW: &str = "<purged>";

impl Store {
    /// Purges the parked records matching `f` and returns how many. The payload bytes are
    /// overwritten with nothing and the preview replaced, so purged data is gone from the
    /// table, not merely hidden; headers, reason and timestamps stay for the record.
    /// Records in any other status are left alone, whatever `f.status` says.
    pub async fn purge_dead_letters(&self, f: &DeadLetterFilter) -> Result<i64, StoreError> {
        let parked = DeadLetterStatus::Parked.as_str();
        let mut conn = self.conn().await?;
        let purged = diesel::update(
            dead_letters::table
                .filter(predicate(f))
                .filter(d::status.eq(parked)),
        )
        .set((
            d::status.eq(DeadLetterStatus::Purged.as_str()),
            d::payload.eq(Vec::<u8>::new()),
            d::payload_preview.eq(PURGED_PREVIEW),
        ))
        .execute(&mut conn)
        .await?;
        Ok(count(purged))
    }

    /// Archives parked records parked more than `older_than` ago and returns how many.
    /// Archived records keep their payload until [`Store::delete_archived`] removes them.
    pub async fn archive_dead_letters(&self, older_than: Duration) -> Result<i64, StoreError> {
        let cutoff = cutoff(older_than)?;
        let mut conn = self.conn().await?;
        let archived = diesel::update(
            dead_letters::table
                .filter(d::status.eq(DeadLetterStatus::Parked.as_str()))
                .filter(d::parked_at.lt(cutoff)),
        )
        .set((
            d::status.eq(DeadLetterStatus::Archived.as_str()),
            d::archived_at.eq(Utc::now()),
        ))
        .execute(&mut conn)
        .await?;
        Ok(count(archived))
    }

    /// Retention: deletes records archived more than `older_than_days` days ago and returns
    /// how many. Replayed, resolved and purged records are kept as history.
    pub async fn delete_archived(&self, older_than_days: i64) -> Result<i64, StoreError> {
        let age = Duration::try_days(older_than_days).ok_or_else(|| {
            StoreError::Invalid(format!("{older_than_days} days is out of range"))
        })?;
        let cutoff = cutoff(age)?;
        let mut conn = self.conn().await?;
        let deleted = diesel::delete(
            dead_letters::table
                .filter(d::status.eq(DeadLetterStatus::Archived.as_str()))
                .filter(d::archived_at.lt(cutoff)),
        )
        .execute(&mut conn)
        .await?;
        Ok(count(deleted))
    }
}

/// `now - age`; a negative age would reach into the future and catch every row, so it is
/// refused rather than clamped.
fn cutoff(age: Duration) -> Result<DateTime<Utc>, StoreError> {
    if age < Duration::zero() {
        return Err(StoreError::Invalid(format!(
            "an age of {age} is negative; give how long ago, e.g. 30 days"
        )));
    }
    Utc::now()
        .checked_sub_signed(age)
        .ok_or_else(|| StoreError::Invalid(format!("an age of {age} is out of range")))
}

/// Row counts come back as `usize`; the API speaks `i64` like the rest of the store.
fn count(rows: usize) -> i64 {
    i64::try_from(rows).unwrap_or(i64::MAX)
}
