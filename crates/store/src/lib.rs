//! Postgres for Switchyard: embedded migrations, delivery log, idempotency records, API keys,
//! audit log, dead letters.
//!
//! Postgres keeps what people look at later. Workers record every delivery attempt, move the
//! delivery status forward and claim idempotency keys so a side effect happens at most once;
//! the ingress authenticates API keys; admin actions land in the append-only audit log;
//! `/readyz` calls [`Store::ping`]; parked messages are kept, encrypted, for the dead-letter
//! workbench ([`dead_letters`]).
//!
//! Everything goes through `diesel-async` and a `deadpool` pool, so no tokio worker thread ever
//! blocks on the database. The schema ships inside the binary ([`Store::migrate`]); several
//! replicas may start at once, an advisory lock makes them take turns.

mod api_keys;
mod attempts;
mod audit;
mod auth;
mod batch;
pub mod dead_letters;
mod deliveries;
mod delivery_status;
mod error;
mod history;
mod idempotency;
mod migrations;
mod payments;
mod prepared;
mod provider_statuses;
mod push_tokens;
mod schema;
mod text_enum;
mod token;
mod webhook_events;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use diesel_async::pooled_connection::deadpool::{Object, PoolError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::batch::Batcher;

pub use attempts::{AttemptRecord, NewAttempt};
pub use audit::{AuditRecord, NewAuditEntry};
pub use auth::{ApiKeyRecord, Role};
pub use dead_letters::{
    DeadLetterFilter, DeadLetterGroup, DeadLetterRecord, DeadLetterStatus, DeadLetterSummary,
    NewDeadLetter, PayloadCipher, ReplayOutcome,
};
pub use deliveries::{DeliveryRecord, DeliveryUpdate};
pub use delivery_status::DeliveryStatus;
pub use error::{ParseEnumError, StoreError, mask_database_url};
pub use history::{DeliveryEvent, MessageHistory};
pub use idempotency::Claim;
pub use payments::{
    Applied, ApplyError, ErpEventOf, PaymentState, PaymentStatus, PaymentUpdate, PendingErpEvent,
};
pub use provider_statuses::StatusRecorded;
pub use push_tokens::InvalidPushToken;
pub use webhook_events::WebhookClaim;

/// A [`Batcher`] named `what` that writes its batches with `flush(&pool, items)`.
macro_rules! batcher {
    ($what:literal, $pool:ident, $flush:path) => {{
        let pool = $pool.clone();
        Batcher::new(
            $what,
            Arc::new(move |items| {
                let pool = pool.clone();
                Box::pin(async move { $flush(&pool, items).await })
            }),
        )
    }};
}

/// How long [`Store::connect`] waits for the first connection before calling the database
/// unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`Store::ping`] may take; `/readyz` must answer quickly even when Postgres hangs.
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a query waits for a free pooled connection. deadpool has no timeout of its own
/// without a runtime feature, so we bound the wait here rather than hang a delivery forever.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle on the Switchyard database: a pool of async Postgres connections.
///
/// Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// The delivery log's group commit ([`Store::record_attempt`]).
    attempt_log: Batcher<NewAttempt, ()>,
    /// Group commit of claim completions ([`Store::complete`]).
    completions: Batcher<idempotency::Completion, bool>,
    /// Group commit of provider status reports ([`Store::record_provider_status`]).
    status_reports: Batcher<deliveries::StatusReport, bool>,
    /// Kept for [`Store::migrate`], which needs a connection of its own. Never shown unmasked.
    url: Arc<str>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("url", &mask_database_url(&self.url))
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl Store {
    /// Builds the pool (at most `max_connections` connections) and checks that one connection
    /// works, so a wrong URL or a stopped database is reported at startup, not at first use.
    pub async fn connect(url: &str, max_connections: usize) -> Result<Store, StoreError> {
        // No `SELECT 1` on every checkout (the default, `Verified`): that doubled the round
        // trips of the hot path. A connection whose socket closed (Postgres restarted) is still
        // discarded on checkout; a query on one that broke unnoticed fails like any query.
        let mut config = ManagerConfig::default();
        config.recycling_method = RecyclingMethod::Fast;
        let manager =
            AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
        let pool = Pool::builder(manager)
            .max_size(max_connections.max(1))
            .build()
            .map_err(|e| StoreError::Unreachable {
                url: mask_database_url(url),
                reason: e.to_string(),
            })?;
        let store = Store {
            attempt_log: batcher!("delivery-log rows", pool, attempts::insert_many),
            completions: batcher!("claim completions", pool, idempotency::complete_many),
            status_reports: batcher!("status reports", pool, deliveries::update_many_by_ref),
            pool,
            url: url.into(),
        };
        let unreachable = |reason: String| StoreError::Unreachable {
            url: mask_database_url(url),
            reason,
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, store.select_one()).await {
            Ok(Ok(())) => Ok(store),
            // The inner errors, not ours: their advice ("run the migrations") does not apply.
            Ok(Err(StoreError::Pool(PoolError::Backend(e)))) => Err(unreachable(e.to_string())),
            Ok(Err(StoreError::Query(e))) => Err(unreachable(e.to_string())),
            Ok(Err(e)) => Err(unreachable(e.to_string())),
            Err(_) => Err(unreachable(format!("no answer within {CONNECT_TIMEOUT:?}"))),
        }
    }

    /// Applies the embedded migrations that are not applied yet and returns their names
    /// (empty when the schema is current). Safe to call from several processes at once.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        migrations::run(&self.url).await
    }

    /// Checks that the database answers `SELECT 1` within 2 seconds (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        tokio::time::timeout(PING_TIMEOUT, self.select_one())
            .await
            .map_err(|_| StoreError::Timeout(PING_TIMEOUT))?
    }

    async fn select_one(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await?;
        Ok(())
    }

    /// A pooled connection, waiting at most [`ACQUIRE_TIMEOUT`] for one to become free.
    async fn conn(&self) -> Result<Object<AsyncPgConnection>, StoreError> {
        checkout(&self.pool).await
    }
}

/// The connection pool.
type Pool = diesel_async::pooled_connection::deadpool::Pool<AsyncPgConnection>;

/// A connection from `pool`, waiting at most [`ACQUIRE_TIMEOUT`] for one to become free.
async fn checkout(pool: &Pool) -> Result<Object<AsyncPgConnection>, StoreError> {
    tokio::time::timeout(ACQUIRE_TIMEOUT, pool.get())
        .await
        .map_err(|_| StoreError::Timeout(ACQUIRE_TIMEOUT))?
        .map_err(StoreError::Pool)
}
