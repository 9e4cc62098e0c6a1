//! Idempotency claims: one side effect per key, even under concurrency and crashed claimers.

mod common;

use std::sync::Arc;
use std::time::Duration;

use switchyard_store::{Claim, StoreError};
use tokio::sync::Barrier;

const LEASE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn claim_complete_and_release_follow_the_lifecycle() -> anyhow::Result<()> {
    let store = common::store().await;
    let key = common::unique("key");

    assert_eq!(
        store.claim("sms", &key, "m1", LEASE).await?,
        Claim::Acquired
    );
    let Claim::InProgress { retry_after } = store.claim("sms", &key, "m2", LEASE).await? else {
        panic!("a held key must answer InProgress");
    };
    assert!(
        retry_after > Duration::from_secs(25) && retry_after <= LEASE,
        "{retry_after:?}"
    );

    // Another integration's key of the same name is independent.
    assert_eq!(
        store.claim("email", &key, "m1", LEASE).await?,
        Claim::Acquired
    );

    store.complete("sms", &key, Some("SM42")).await?;
    let done = Claim::AlreadySucceeded {
        provider_ref: Some("SM42".into()),
    };
    assert_eq!(store.claim("sms", &key, "m3", LEASE).await?, done);

    // Releasing a succeeded key must not reopen it.
    store.release("sms", &key).await?;
    assert_eq!(store.claim("sms", &key, "m4", LEASE).await?, done);
    Ok(())
}

#[tokio::test]
async fn a_released_key_can_be_claimed_again() -> anyhow::Result<()> {
    let store = common::store().await;
    let key = common::unique("key");
    assert_eq!(
        store.claim("sms", &key, "m1", LEASE).await?,
        Claim::Acquired
    );
    store.release("sms", &key).await?;
    assert_eq!(
        store.claim("sms", &key, "m1", LEASE).await?,
        Claim::Acquired
    );
    Ok(())
}

#[tokio::test]
async fn an_expired_lease_is_taken_over() -> anyhow::Result<()> {
    let store = common::store().await;
    let key = common::unique("key");
    let short = Duration::from_millis(50);
    assert_eq!(
        store.claim("sms", &key, "m1", short).await?,
        Claim::Acquired
    );
    tokio::time::sleep(Duration::from_millis(120)).await;

    // The first claimer "died"; the redelivery takes the key and holds it with a new lease,
    // and learns since when the side effect may have happened.
    let before = chrono::Utc::now();
    match store.claim("sms", &key, "m1", LEASE).await? {
        Claim::TakenOver { first_claimed_at } => {
            assert!(
                first_claimed_at < before,
                "{first_claimed_at} is the first claim's time"
            );
        }
        other => panic!("expected TakenOver, got {other:?}"),
    }
    let again = store.claim("sms", &key, "m1", LEASE).await?;
    assert!(matches!(again, Claim::InProgress { .. }), "{again:?}");
    store.complete("sms", &key, None).await?;
    let done = store.claim("sms", &key, "m1", LEASE).await?;
    assert_eq!(done, Claim::AlreadySucceeded { provider_ref: None });
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_claims_acquire_exactly_once() -> anyhow::Result<()> {
    const CLAIMERS: usize = 20;
    let store = common::store_with(CLAIMERS).await;
    // Open every connection first so the claims start together instead of one per connect.
    let mut warm = tokio::task::JoinSet::new();
    for _ in 0..CLAIMERS {
        let store = store.clone();
        warm.spawn(async move { store.ping().await });
    }
    while let Some(ping) = warm.join_next().await {
        ping??;
    }
    let key = common::unique("key");
    let barrier = Arc::new(Barrier::new(CLAIMERS));
    let tasks: Vec<_> = (0..CLAIMERS)
        .map(|i| {
            let (store, key, barrier) = (store.clone(), key.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.claim("sms", &key, &format!("m{i}"), LEASE).await
            })
        })
        .collect();
    let mut acquired = 0;
    for task in tasks {
        match task.await?? {
            Claim::Acquired => acquired += 1,
            Claim::InProgress { .. } => {}
            other @ (Claim::AlreadySucceeded { .. } | Claim::TakenOver { .. }) => {
                panic!("unexpected {other:?}")
            }
        }
    }
    assert_eq!(acquired, 1);
    Ok(())
}

#[tokio::test]
async fn completing_an_unclaimed_key_is_an_error() {
    let store = common::store().await;
    let key = common::unique("key");
    let err = store
        .complete("sms", &key, Some("SM1"))
        .await
        .expect_err("not claimed");
    assert!(matches!(err, StoreError::NotClaimed { .. }), "{err:?}");
    assert!(err.to_string().contains("claim()"), "{err}");
}
