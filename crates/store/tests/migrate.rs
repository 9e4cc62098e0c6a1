//! Migrations: applied once even when several replicas start together, and idempotent.

mod common;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use switchyard_store::Store;

const ALL_MIGRATIONS: [&str; 12] = [
    "2026-11-28-000001_delivery_attempts",
    "2026-11-28-000002_deliveries",
    "2026-11-28-000003_idempotency_keys",
    "2026-11-28-000004_api_keys",
    "2026-11-28-000005_audit_log",
    "2026-11-28-000006_dead_letters",
    "2026-11-28-000007_pending_provider_statuses",
    "2026-11-28-000008_delivery_events",
    "2026-11-28-000009_invalid_push_tokens",
    "2026-11-28-000010_webhook_events",
    "2026-11-28-000011_payments",
    "2026-11-28-000012_payment_reference",
];

/// A throwaway database, so the test sees migrations applied from scratch.
struct ScratchDatabase {
    name: String,
}

impl ScratchDatabase {
    async fn create() -> anyhow::Result<Self> {
        let name = common::unique("switchyard_migrate").replace('-', "_");
        let mut admin = common::raw_connection().await;
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        Ok(ScratchDatabase { name })
    }

    fn url(&self) -> String {
        let base = common::database_url();
        let (server, _db) = base.rsplit_once('/').expect("the URL names a database");
        format!("{server}/{}", self.name)
    }

    async fn drop(self) -> anyhow::Result<()> {
        let mut admin = common::raw_connection().await;
        diesel::sql_query(format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&mut admin)
            .await?;
        Ok(())
    }
}

/// What four replicas starting at once against an empty database saw.
struct Observed {
    applied: Vec<Vec<String>>,
    applied_afterwards: Vec<String>,
    recorded_migrations: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_on_a_fresh_database_apply_each_migration_once() -> anyhow::Result<()>
{
    let db = ScratchDatabase::create().await?;
    let observed = migrate_from_scratch(&db.url()).await;
    // Drop the scratch database before asserting, so a failure leaves nothing behind.
    db.drop().await?;
    let mut observed = observed?;

    observed
        .applied
        .sort_by_key(|names| std::cmp::Reverse(names.len()));
    assert_eq!(
        observed.applied[0], ALL_MIGRATIONS,
        "one replica applies everything"
    );
    assert!(
        observed.applied[1..].iter().all(Vec::is_empty),
        "{:?}",
        observed.applied
    );
    assert!(
        observed.applied_afterwards.is_empty(),
        "a current schema needs nothing"
    );
    assert_eq!(observed.recorded_migrations, ALL_MIGRATIONS.len() as i64);
    Ok(())
}

async fn migrate_from_scratch(url: &str) -> anyhow::Result<Observed> {
    let store = Store::connect(url, 2).await?;
    let (a, b, c, d) = tokio::join!(
        store.migrate(),
        store.migrate(),
        store.migrate(),
        store.migrate()
    );
    let applied = vec![a?, b?, c?, d?];
    let applied_afterwards = store.migrate().await?;
    let mut conn = AsyncPgConnection::establish(url).await?;
    let recorded_migrations = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM __diesel_schema_migrations)",
    ))
    .get_result(&mut conn)
    .await?;
    Ok(Observed {
        applied,
        applied_afterwards,
        recorded_migrations,
    })
}

#[tokio::test]
async fn migrating_a_current_schema_applies_nothing() -> anyhow::Result<()> {
    let store = common::store().await;
    assert_eq!(store.migrate().await?, Vec::<String>::new());
    Ok(())
}
