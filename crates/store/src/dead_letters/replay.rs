//! Replay and edit-and-replay: exactly one replayer wins a record, and a record is marked only
//! after the broker confirmed the message sent in its place.
//!
//! The row lock (`FOR UPDATE SKIP LOCKED`) is held across the publish: a concurrent replayer
//! skips the row and reports it not parked instead of waiting and sending it twice. If the
//! process dies, or the replay future is dropped mid-publish, the connection is closed, the
//! transaction rolls back and the record stays parked.
//!
//! One gap remains, as with any broker plus database: a publish confirmed just before the
//! commit fails leaves the record parked although the message was sent. The caller's link
//! header (record id) and the workers' idempotency keys make a second replay harmless.

use std::future::Future;

use diesel::prelude::*;
use diesel_async::pooled_connection::deadpool::Object;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::{DeadLetterRecord, DeadLetterStatus, PayloadCipher, ReplayOutcome};
use crate::schema::dead_letters::{self, dsl as d};
use crate::{Store, StoreError};

/// What a successful publish turns the record into.
enum Settlement {
    /// `replayed`: the original message was sent again.
    Replay,
    /// `resolved`: an edited message was sent instead; keep the diff.
    Edit(serde_json::Value),
}

impl Store {
    /// Replays one record exactly once, even with concurrent replayers. In one transaction:
    /// locks the row if it is still parked, decrypts the payload, runs `publish` (which must
    /// publish with a broker confirm and return the new message id), and only if that
    /// succeeded marks the record replayed. A record that is not parked, does not exist, or
    /// is held by another replayer gives [`ReplayOutcome::NotParked`] without calling
    /// `publish`; a failed publish gives [`ReplayOutcome::PublishFailed`] and leaves it parked.
    pub async fn replay_dead_letter<F, Fut>(
        &self,
        id: i64,
        cipher: &PayloadCipher,
        publish: F,
    ) -> Result<ReplayOutcome, StoreError>
    where
        F: FnOnce(DeadLetterRecord, Vec<u8>) -> Fut + Send,
        Fut: Future<Output = Result<String, String>> + Send,
    {
        self.settle(id, cipher, Settlement::Replay, publish).await
    }

    /// Edit-and-replay: like [`Store::replay_dead_letter`], but `publish` sends the edited
    /// message (it gets the original record and payload to build it from), and on success the
    /// original is marked `resolved` with `diff` stored on it and `replay_message_id` naming
    /// the edited message. The original itself is never sent, and cannot be replayed after.
    pub async fn resolve_dead_letter_with_edit<F, Fut>(
        &self,
        id: i64,
        diff: serde_json::Value,
        cipher: &PayloadCipher,
        publish: F,
    ) -> Result<ReplayOutcome, StoreError>
    where
        F: FnOnce(DeadLetterRecord, Vec<u8>) -> Fut + Send,
        Fut: Future<Output = Result<String, String>> + Send,
    {
        self.settle(id, cipher, Settlement::Edit(diff), publish)
            .await
    }

    async fn settle<F, Fut>(
        &self,
        id: i64,
        cipher: &PayloadCipher,
        settlement: Settlement,
        publish: F,
    ) -> Result<ReplayOutcome, StoreError>
    where
        F: FnOnce(DeadLetterRecord, Vec<u8>) -> Fut + Send,
        Fut: Future<Output = Result<String, String>> + Send,
    {
        let mut held = CloseIfCancelled(Some(self.conn().await?));
        let conn: &mut AsyncPgConnection = held.0.as_mut().expect("set just above");
        let outcome = conn
            .transaction(async move |conn: &mut AsyncPgConnection| {
                let Some((record, key_id, blob)) = lock_parked(conn, id).await? else {
                    return Ok(ReplayOutcome::NotParked);
                };
                let body = cipher.decrypt(&key_id, &blob)?;
                match publish(record, body).await {
                    Err(e) => Ok(ReplayOutcome::PublishFailed(e)),
                    Ok(new_id) => {
                        mark(conn, id, settlement, &new_id).await?;
                        Ok(ReplayOutcome::Replayed(new_id))
                    }
                }
            })
            .await;
        drop(held.0.take()); // Finished: the connection goes back to the pool.
        outcome
    }
}

/// A pooled connection that is closed, not returned to the pool, if the replay is dropped
/// mid-transaction (Ctrl-C, an HTTP client hanging up). Returned, it would sit idle with the
/// transaction open and the row locked until the pool next handed it out; closed, PostgreSQL
/// rolls back at once and the record is parked and replayable again.
struct CloseIfCancelled(Option<Object<AsyncPgConnection>>);

impl Drop for CloseIfCancelled {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(Object::take(conn));
        }
    }
}

/// The record and its encrypted payload, locked, if it is parked and nobody else holds it.
async fn lock_parked(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> Result<Option<(DeadLetterRecord, String, Vec<u8>)>, StoreError> {
    let row = dead_letters::table
        .find(id)
        .filter(d::status.eq(DeadLetterStatus::Parked.as_str()))
        .select((DeadLetterRecord::as_select(), d::payload_key_id, d::payload))
        .for_update()
        .skip_locked()
        .first(conn)
        .await
        .optional()?;
    Ok(row)
}

/// Marks the locked record replayed or resolved, naming the message sent in its place.
async fn mark(
    conn: &mut AsyncPgConnection,
    id: i64,
    settlement: Settlement,
    new_id: &str,
) -> Result<(), StoreError> {
    let target = dead_letters::table.find(id);
    let now = diesel::dsl::now;
    match settlement {
        Settlement::Replay => {
            diesel::update(target)
                .set((
                    d::status.eq(DeadLetterStatus::Replayed.as_str()),
                    d::replayed_at.eq(now),
                    d::replay_message_id.eq(new_id),
                ))
                .execute(conn)
                .await?
        }
        Settlement::Edit(diff) => {
            diesel::update(target)
                .set((
                    d::status.eq(DeadLetterStatus::Resolved.as_str()),
                    d::resolved_at.eq(now),
                    d::replay_message_id.eq(new_id),
                    d::edit_diff.eq(diff),
                ))
                .execute(conn)
                .await?
        }
    };
    Ok(())
}
