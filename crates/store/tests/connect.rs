//! Connecting: a clear, password-free error when PostgreSQL is not there; ping for /readyz.

mod common;

use switchyard_store::{Store, StoreError};

#[tokio::test]
async fn an_unreachable_database_is_named_without_its_password() {
    let url = "postgres://switchyard:s3cret-pw@127.0.0.1:1/switchyard";
    let err = Store::connect(url, 2)
        .await
        .expect_err("nothing listens on port 1");

    let StoreError::Unreachable { url: shown, reason } = &err else {
        panic!("expected Unreachable, got {err:?}");
    };
    assert_eq!(shown, "postgres://switchyard:***@127.0.0.1:1/switchyard");
    assert!(!reason.is_empty());
    let message = err.to_string();
    assert!(
        message.contains("postgres://switchyard:***@127.0.0.1:1/switchyard"),
        "{message}"
    );
    assert!(message.contains("SWITCHYARD_DATABASE_URL"), "{message}");
    assert!(!message.contains("s3cret-pw"), "{message}");
    assert!(!format!("{err:?}").contains("s3cret-pw"));
}

#[tokio::test]
async fn ping_answers_and_debug_output_masks_the_password() -> anyhow::Result<()> {
    // The test server trusts local connections, so any password is accepted.
    let url = common::database_url().replacen("://postgres@", "://postgres:not-shown@", 1);
    let store = Store::connect(&url, 1).await?;
    store.ping().await?;
    let debug = format!("{store:?}");
    assert!(!debug.contains("not-shown"), "{debug}");
    Ok(())
}
