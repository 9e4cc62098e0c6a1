//! Webhook events taken once: claim, publish, mark; a failed publish releases the claim.

mod common;

use std::time::Duration;

use switchyard_store::WebhookClaim;

const LEASE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_published_event_is_a_duplicate_and_a_live_claim_is_in_flight() {
    let store = common::store().await;
    let (source, id) = (common::unique("stripe"), common::unique("evt"));
    let claim = |holder: &'static str| store.claim_webhook(&source, &id, holder, LEASE);
    assert_eq!(claim("a").await.unwrap(), WebhookClaim::Claimed);
    assert_eq!(claim("b").await.unwrap(), WebhookClaim::InFlight);
    store.webhook_published(&source, &id).await.unwrap();
    assert_eq!(claim("c").await.unwrap(), WebhookClaim::Published);
    // Releasing after the publish changes nothing: the event stays taken.
    store.release_webhook(&source, &id, "a").await.unwrap();
    assert_eq!(claim("d").await.unwrap(), WebhookClaim::Published);
}

#[tokio::test]
async fn a_released_claim_lets_the_retry_through_but_only_its_holder_releases() {
    let store = common::store().await;
    let (source, id) = (common::unique("zoom"), common::unique("evt"));
    let claim = |holder: &'static str| store.claim_webhook(&source, &id, holder, LEASE);
    assert_eq!(claim("a").await.unwrap(), WebhookClaim::Claimed);
    store.release_webhook(&source, &id, "not-a").await.unwrap();
    assert_eq!(claim("b").await.unwrap(), WebhookClaim::InFlight);
    store.release_webhook(&source, &id, "a").await.unwrap();
    assert_eq!(claim("b").await.unwrap(), WebhookClaim::Claimed);
}

#[tokio::test]
async fn an_expired_claim_is_taken_over() {
    let store = common::store().await;
    let (source, id) = (common::unique("graph"), common::unique("evt"));
    let short = Duration::from_millis(100);
    assert_eq!(
        store
            .claim_webhook(&source, &id, "crashed", short)
            .await
            .unwrap(),
        WebhookClaim::Claimed
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        store
            .claim_webhook(&source, &id, "next", LEASE)
            .await
            .unwrap(),
        WebhookClaim::Claimed
    );
    // The crashed holder's late release cannot drop the new claim.
    store
        .release_webhook(&source, &id, "crashed")
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_webhook(&source, &id, "third", LEASE)
            .await
            .unwrap(),
        WebhookClaim::InFlight
    );
}

#[tokio::test]
async fn concurrent_claims_of_one_event_have_one_winner() {
    let store = common::store_with(8).await;
    let (source, id) = (common::unique("stripe"), common::unique("evt"));
    let claims = (0..8).map(|i| {
        let (store, source, id) = (store.clone(), source.clone(), id.clone());
        tokio::spawn(async move {
            store
                .claim_webhook(&source, &id, &format!("h{i}"), LEASE)
                .await
        })
    });
    let mut won = 0;
    for claim in claims {
        won += usize::from(claim.await.unwrap().unwrap() == WebhookClaim::Claimed);
    }
    assert_eq!(won, 1);
}
