//! Idempotency records: at most one side effect per (integration, key).
//!
//! A worker claims the key before calling the provider, completes it afterwards, or releases
//! it when the attempt failed without a side effect. The claim carries a lease: if the worker
//! dies mid-call the lease runs out and the redelivered message can take the key over.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Double, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::batch::{Found, found_each};
use crate::prepared::Prepared;
use crate::schema::idempotency_keys;
use crate::{Pool, Store, StoreError};

/// The answer to [`Store::claim`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the key until its lease runs out; go ahead with the side effect.
    Acquired,
    /// The caller holds the key, taken over from a claimer whose lease ran out unfinished:
    /// it died mid-way, so the side effect may or may not have happened since
    /// `first_claimed_at`. Check with the provider before repeating it.
    TakenOver {
        /// When the key was first claimed (the earliest the side effect could have happened).
        first_claimed_at: DateTime<Utc>,
    },
    /// The side effect already happened; do not repeat it.
    AlreadySucceeded {
        /// The provider's id recorded by [`Store::complete`], if any.
        provider_ref: Option<String>,
    },
    /// Someone else holds the key right now; try again later.
    InProgress {
        /// How long until the other claimer's lease runs out.
        retry_after: Duration,
    },
}

/// Insert a fresh claim, or take over an expired one. The conflict branch always writes the
/// row (unchanged unless the lease ran out) so that RETURNING yields the row as it stands
/// after the decision, taken under the row lock: a second concurrent claimer waits for the
/// first, then sees its unexpired lease and a claim token that is not its own.
const CLAIM: &str = "\
INSERT INTO idempotency_keys AS k (integration, key, message_id, state, lease_until, claim_token)
VALUES ($1, $2, $3, 'in_progress', now() + make_interval(secs => $4), $5)
ON CONFLICT (integration, key) DO UPDATE SET
  message_id  = CASE WHEN k.state = 'in_progress' AND k.lease_until <= now()
                     THEN EXCLUDED.message_id ELSE k.message_id END,
  lease_until = CASE WHEN k.state = 'in_progress' AND k.lease_until <= now()
                     THEN EXCLUDED.lease_until ELSE k.lease_until END,
  claim_token = CASE WHEN k.state = 'in_progress' AND k.lease_until <= now()
                     THEN EXCLUDED.claim_token ELSE k.claim_token END,
  updated_at  = CASE WHEN k.state = 'in_progress' AND k.lease_until <= now()
                     THEN now() ELSE k.updated_at END
RETURNING k.state, k.provider_ref, k.claim_token, k.created_at,
  k.created_at < now() AS taken_over,
  GREATEST(0, CEIL(EXTRACT(EPOCH FROM (k.lease_until - now())) * 1000))::bigint AS remaining_ms";

#[derive(QueryableByName)]
struct ClaimRow {
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Nullable<Text>)]
    provider_ref: Option<String>,
    #[diesel(sql_type = SqlUuid)]
    claim_token: Uuid,
    #[diesel(sql_type = BigInt)]
    remaining_ms: i64,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    /// The row existed before this statement: an expired claim was taken over.
    #[diesel(sql_type = Bool)]
    taken_over: bool,
}

/// [`Store::complete`] for a batch: one array per column. Returns the keys found.
const COMPLETE_MANY: &str = "\
UPDATE idempotency_keys AS k
SET state = 'succeeded', provider_ref = v.provider_ref, updated_at = now()
FROM unnest($1::text[], $2::text[], $3::text[]) AS v(integration, key, provider_ref)
WHERE k.integration = v.integration AND k.key = v.key
RETURNING k.integration, k.key";

/// A claim to mark succeeded.
#[derive(Clone, Debug)]
pub(crate) struct Completion {
    integration: String,
    key: String,
    provider_ref: Option<String>,
}

/// Completes `batch` in one statement and one commit; answers, per completion, whether its
/// key was claimed. Two completions of one key (which a claim prevents) both find it, and
/// one of their provider references is kept.
pub(crate) async fn complete_many(
    pool: &Pool,
    batch: Vec<Completion>,
) -> Result<Vec<bool>, StoreError> {
    let mut columns: [Vec<Option<String>>; 3] = Default::default();
    for c in &batch {
        columns[0].push(Some(c.integration.clone()));
        columns[1].push(Some(c.key.clone()));
        columns[2].push(c.provider_ref.clone());
    }
    let [integration, key, provider_ref] = columns;
    let update = diesel::sql_query(COMPLETE_MANY)
        .bind::<Array<Nullable<Text>>, _>(integration)
        .bind::<Array<Nullable<Text>>, _>(key)
        .bind::<Array<Nullable<Text>>, _>(provider_ref);
    let mut conn = crate::checkout(pool).await?;
    let found: Vec<Found> = Prepared(update).load(&mut conn).await?;
    Ok(found_each(&batch, &found, |c| (&c.integration, &c.key)))
}

impl Store {
    /// Claims `key` for `message_id` for `lease`. Exactly one of any number of concurrent
    /// claimers gets [`Claim::Acquired`] (or [`Claim::TakenOver`]).
    pub async fn claim(
        &self,
        integration: &str,
        key: &str,
        message_id: &str,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let token = Uuid::new_v4();
        let mut conn = self.conn().await?;
        let query = diesel::sql_query(CLAIM)
            .bind::<Text, _>(integration)
            .bind::<Text, _>(key)
            .bind::<Text, _>(message_id)
            .bind::<Double, _>(lease.as_secs_f64())
            .bind::<SqlUuid, _>(token);
        let row: ClaimRow = Prepared(query).get_result(&mut conn).await?;
        match row.state.as_str() {
            "in_progress" if row.claim_token == token && row.taken_over => Ok(Claim::TakenOver {
                first_claimed_at: row.created_at,
            }),
            "in_progress" if row.claim_token == token => Ok(Claim::Acquired),
            "in_progress" => Ok(Claim::InProgress {
                retry_after: Duration::from_millis(row.remaining_ms.max(1).unsigned_abs()),
            }),
            "succeeded" => Ok(Claim::AlreadySucceeded {
                provider_ref: row.provider_ref,
            }),
            _ => Err(StoreError::Corrupt {
                column: "idempotency_keys.state",
                value: row.state,
            }),
        }
    }

    /// Marks `key` as done: every later claim answers [`Claim::AlreadySucceeded`] with
    /// `provider_ref`. Fails with [`StoreError::NotClaimed`] if the key has no claim.
    pub async fn complete(
        &self,
        integration: &str,
        key: &str,
        provider_ref: Option<&str>,
    ) -> Result<(), StoreError> {
        // Completions made concurrently are written together, in one statement (group commit);
        // each caller still returns only once its own is committed.
        let completion = Completion {
            integration: integration.to_owned(),
            key: key.to_owned(),
            provider_ref: provider_ref.map(str::to_owned),
        };
        if !self.completions.submit(completion).await? {
            return Err(StoreError::NotClaimed {
                integration: integration.to_owned(),
                key: key.to_owned(),
            });
        }
        Ok(())
    }

    /// Ends the lease of a claim whose attempt may have had its side effect (the provider
    /// call timed out): the row and its first-claim time stay, so the next attempt takes the
    /// key over at once as [`Claim::TakenOver`] and reconciles with the provider first.
    pub async fn expire_claim(&self, integration: &str, key: &str) -> Result<(), StoreError> {
        use idempotency_keys::dsl;
        let mut conn = self.conn().await?;
        diesel::update(dsl::idempotency_keys.find((integration, key)))
            .filter(dsl::state.eq("in_progress"))
            .set(dsl::lease_until.eq(diesel::dsl::now))
            .execute(&mut conn)
            .await?;
        Ok(())
    }

    /// Gives up a claim after an attempt that had no side effect, so a retry can claim the
    /// key again at once instead of waiting out the lease. A succeeded key is never released.
    pub async fn release(&self, integration: &str, key: &str) -> Result<(), StoreError> {
        use idempotency_keys::dsl;
        let mut conn = self.conn().await?;
        diesel::delete(dsl::idempotency_keys.find((integration, key)))
            .filter(dsl::state.eq("in_progress"))
            .execute(&mut conn)
            .await?;
        Ok(())
    }
}
