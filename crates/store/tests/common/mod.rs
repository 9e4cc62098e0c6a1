//! Helpers shared by the integration tests: a migrated store on the real test database and
//! unique names so tests can run in parallel without seeing each other's rows.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use diesel_async::{AsyncConnection, AsyncPgConnection};
use switchyard_store::Store;

/// The local test database; override with SWITCHYARD_TEST_DATABASE_URL.
pub fn database_url() -> String {
    std::env::var("SWITCHYARD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A store on the test database with the schema in place.
pub async fn store() -> Store {
    store_with(4).await
}

/// A store with room for `max_connections` concurrent queries.
pub async fn store_with(max_connections: usize) -> Store {
    let store = Store::connect(&database_url(), max_connections)
        .await
        .expect("the test database must be running (see SWITCHYARD_TEST_DATABASE_URL)");
    store.migrate().await.expect("migrations must apply");
    store
}

/// A plain connection for inspecting tables the way an attacker or operator would.
pub async fn raw_connection() -> AsyncPgConnection {
    AsyncPgConnection::establish(&database_url())
        .await
        .expect("the test database must be running")
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}
