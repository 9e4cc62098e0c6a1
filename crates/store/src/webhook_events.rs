//! Provider webhooks taken exactly once (see the migration `webhook_events`): claim, publish
//! with a confirm, then mark published; a failed publish releases its claim.

use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{Double, Text};
use diesel_async::RunQueryDsl;

use crate::{Store, StoreError};

/// What [`Store::claim_webhook`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookClaim {
    /// This caller holds the event now: publish it, then [`Store::webhook_published`].
    Claimed,
    /// The event was published before: answer 2xx, publish nothing.
    Published,
    /// Another request holds a live claim on it (a concurrent delivery of the same event).
    InFlight,
}

#[derive(QueryableByName)]
struct State {
    #[diesel(sql_type = Text)]
    state: String,
}

// Insert a claim, or take over one whose lease ended without a publish. When neither happens
// the second SELECT reports the row as it was before this statement (CTE snapshot semantics).
const CLAIM: &str = "WITH claimed AS ( \
       INSERT INTO webhook_events (source, event_id, holder, lease_until) \
       VALUES ($1, $2, $3, now() + make_interval(secs => $4)) \
       ON CONFLICT (source, event_id) DO UPDATE \
         SET holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until, claimed_at = now() \
         WHERE webhook_events.published_at IS NULL AND webhook_events.lease_until < now() \
       RETURNING 'claimed'::text AS state) \
     SELECT state FROM claimed \
     UNION ALL \
     SELECT CASE WHEN published_at IS NULL THEN 'in_flight' ELSE 'published' END \
       FROM webhook_events \
       WHERE source = $1 AND event_id = $2 AND NOT EXISTS (SELECT 1 FROM claimed)";

const PUBLISHED: &str = "UPDATE webhook_events SET published_at = now() \
     WHERE source = $1 AND event_id = $2";

const RELEASE: &str = "DELETE FROM webhook_events \
     WHERE source = $1 AND event_id = $2 AND holder = $3 AND published_at IS NULL";

impl Store {
    /// Claims `event_id` of webhook `source` for `holder` for at most `lease` (after which a
    /// retry may take it over, should this process die between claim and publish).
    pub async fn claim_webhook(
        &self,
        source: &str,
        event_id: &str,
        holder: &str,
        lease: Duration,
    ) -> Result<WebhookClaim, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<State> = diesel::sql_query(CLAIM)
            .bind::<Text, _>(source)
            .bind::<Text, _>(event_id)
            .bind::<Text, _>(holder)
            .bind::<Double, _>(lease.as_secs_f64())
            .load(&mut conn)
            .await?;
        // No row: a concurrent claim committed between our snapshot and our insert.
        Ok(match <[State]>::first(&rows).map(|r| r.state.as_str()) {
            Some("claimed") => WebhookClaim::Claimed,
            Some("published") => WebhookClaim::Published,
            _ => WebhookClaim::InFlight,
        })
    }

    /// Marks the claimed event published (the broker confirmed it).
    pub async fn webhook_published(&self, source: &str, event_id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::sql_query(PUBLISHED)
            .bind::<Text, _>(source)
            .bind::<Text, _>(event_id)
            .execute(&mut conn)
            .await?;
        Ok(())
    }

    /// Drops `holder`'s unpublished claim so the provider's retry is taken, not refused as
    /// in flight until the lease ends.
    pub async fn release_webhook(
        &self,
        source: &str,
        event_id: &str,
        holder: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::sql_query(RELEASE)
            .bind::<Text, _>(source)
            .bind::<Text, _>(event_id)
            .bind::<Text, _>(holder)
            .execute(&mut conn)
            .await?;
        Ok(())
    }
}
