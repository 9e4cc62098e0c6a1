//! The embedded schema migrations, applied by one replica at a time.

use diesel::sql_types::BigInt;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::{StoreError, mask_database_url};

/// `migrations/` compiled into the binary, so a deployment cannot run a schema it was not
/// built for.
const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Advisory lock key ("switchyd" in ASCII). Replicas starting together would otherwise race
/// to create the migrations table and to apply the same migration twice.
const LOCK_KEY: i64 = 0x7377_6974_6368_7964;

type MigrationResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Applies the pending migrations under the advisory lock and returns their names.
pub(crate) async fn run(url: &str) -> Result<Vec<String>, StoreError> {
    // A connection of its own rather than a pooled one: the advisory lock belongs to the
    // session, and if anything below fails or panics, closing the session releases the lock
    // instead of leaving it held by a connection parked in the pool.
    let mut conn =
        AsyncPgConnection::establish(url)
            .await
            .map_err(|e| StoreError::Unreachable {
                url: mask_database_url(url),
                reason: e.to_string(),
            })?;
    tracing::debug!("waiting for the migration lock");
    advisory(&mut conn, "pg_advisory_lock").await?;
    let (mut conn, applied) = tokio::task::spawn_blocking(move || apply_pending(conn))
        .await
        .map_err(|e| StoreError::Migration(format!("the migration task died: {e}")))?;
    if let Err(e) = advisory(&mut conn, "pg_advisory_unlock").await {
        // Harmless: dropping the connection below ends the session, which releases the lock.
        tracing::warn!(error = %e, "could not release the migration lock explicitly");
    }
    for name in applied.iter().flatten() {
        tracing::info!(migration = %name, "applied database migration");
    }
    applied
}

/// Calls `pg_advisory_lock` or `pg_advisory_unlock` on the migration key.
async fn advisory(conn: &mut AsyncPgConnection, function: &str) -> diesel::QueryResult<usize> {
    diesel::sql_query(format!("SELECT {function}($1)"))
        .bind::<BigInt, _>(LOCK_KEY)
        .execute(conn)
        .await
}

/// Runs on a blocking thread because `diesel_migrations` is synchronous: the wrapper drives
/// the async connection with `block_on`, which must never happen on a tokio worker thread.
/// Hands the connection back so the caller can release the lock on it.
fn apply_pending(conn: AsyncPgConnection) -> (AsyncPgConnection, Result<Vec<String>, StoreError>) {
    let mut wrapper = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
    let result = run_pending(&mut wrapper).map_err(|e| StoreError::Migration(e.to_string()));
    (wrapper.into_inner(), result)
}

fn run_pending(
    harness: &mut AsyncConnectionWrapper<AsyncPgConnection>,
) -> MigrationResult<Vec<String>> {
    let pending = harness.pending_migrations(MIGRATIONS)?;
    harness.run_migrations(&pending)?;
    Ok(pending.iter().map(|m| m.name().to_string()).collect())
}
