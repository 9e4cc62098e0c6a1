//! Delivery status only moves forward, whether updated by message id or by provider ref.

mod common;

use switchyard_store::{DeliveryStatus, DeliveryUpdate, Store};

fn update(message_id: &str, status: DeliveryStatus, provider_ref: Option<&str>) -> DeliveryUpdate {
    DeliveryUpdate {
        message_id: message_id.to_owned(),
        integration: "sms".into(),
        message_type: "sms.send".into(),
        tenant: Some("school-7".into()),
        status,
        provider_ref: provider_ref.map(str::to_owned),
        error_code: None,
    }
}

async fn status_of(store: &Store, message_id: &str) -> DeliveryStatus {
    let record = store.delivery("sms", message_id).await.unwrap();
    record.expect("the delivery exists").status
}

#[tokio::test]
async fn statuses_move_forward_and_late_ones_are_ignored() -> anyhow::Result<()> {
    let store = common::store().await;
    let id = common::unique("msg");
    store
        .upsert_delivery(&update(&id, DeliveryStatus::Accepted, None))
        .await?;
    let created = store.delivery("sms", &id).await?.expect("created");
    assert_eq!(created.status, DeliveryStatus::Accepted);
    assert_eq!(created.tenant.as_deref(), Some("school-7"));
    assert_eq!(created.message_type, "sms.send");

    store
        .upsert_delivery(&update(&id, DeliveryStatus::Sent, Some("SM1")))
        .await?;
    store
        .upsert_delivery(&update(&id, DeliveryStatus::Delivered, None))
        .await?;
    // A `sent` that arrives after `delivered` must not undo it.
    store
        .upsert_delivery(&update(&id, DeliveryStatus::Sent, Some("SM2")))
        .await?;
    store
        .upsert_delivery(&update(&id, DeliveryStatus::Queued, None))
        .await?;

    let record = store.delivery("sms", &id).await?.expect("exists");
    assert_eq!(record.status, DeliveryStatus::Delivered);
    assert_eq!(
        record.provider_ref.as_deref(),
        Some("SM1"),
        "kept from `sent`"
    );
    assert!(record.updated_at >= record.created_at);
    assert_eq!(store.delivery("email", &id).await?, None);
    Ok(())
}

#[tokio::test]
async fn callbacks_update_by_provider_ref() -> anyhow::Result<()> {
    let store = common::store().await;
    let id = common::unique("msg");
    let provider_ref = common::unique("SM");
    store
        .upsert_delivery(&update(&id, DeliveryStatus::Sent, Some(&provider_ref)))
        .await?;

    let found = store
        .update_delivery_by_provider_ref(
            "sms",
            &provider_ref,
            DeliveryStatus::Undelivered,
            Some("30003"),
        )
        .await?;
    assert!(found);
    let record = store.delivery("sms", &id).await?.expect("exists");
    assert_eq!(record.status, DeliveryStatus::Undelivered);
    assert_eq!(record.error_code.as_deref(), Some("30003"));

    // A late `sent` callback finds the delivery but changes nothing.
    let found = store
        .update_delivery_by_provider_ref("sms", &provider_ref, DeliveryStatus::Sent, None)
        .await?;
    assert!(found);
    let record = store.delivery("sms", &id).await?.expect("exists");
    assert_eq!(record.status, DeliveryStatus::Undelivered);
    assert_eq!(record.error_code.as_deref(), Some("30003"));

    let unknown = common::unique("SM");
    let found = store
        .update_delivery_by_provider_ref("sms", &unknown, DeliveryStatus::Delivered, None)
        .await?;
    assert!(!found);
    let other_integration = store
        .update_delivery_by_provider_ref("email", &provider_ref, DeliveryStatus::Delivered, None)
        .await?;
    assert!(!other_integration);
    Ok(())
}

#[tokio::test]
async fn a_replayed_parked_message_can_still_be_delivered() -> anyhow::Result<()> {
    let store = common::store().await;
    let id = common::unique("msg");
    let failed = DeliveryUpdate {
        error_code: Some("http_500".into()),
        ..update(&id, DeliveryStatus::Parked, None)
    };
    store.upsert_delivery(&failed).await?;
    // The replay reaches the provider: the record moves forward from parked again.
    store
        .upsert_delivery(&update(&id, DeliveryStatus::Sent, Some("SM9")))
        .await?;
    assert_eq!(status_of(&store, &id).await, DeliveryStatus::Sent);
    // A late worker-side "parked" cannot undo what the provider reported.
    store
        .upsert_delivery(&update(&id, DeliveryStatus::Parked, None))
        .await?;
    assert_eq!(status_of(&store, &id).await, DeliveryStatus::Sent);

    store
        .upsert_delivery(&update(&id, DeliveryStatus::Delivered, Some("SM9")))
        .await?;
    let record = store.delivery("sms", &id).await?.expect("exists");
    assert_eq!(record.status, DeliveryStatus::Delivered);
    assert_eq!(
        record.error_code, None,
        "the error belonged to the old status"
    );
    assert_eq!(record.provider_ref.as_deref(), Some("SM9"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_never_go_backwards() -> anyhow::Result<()> {
    let store = common::store_with(8).await;
    let id = common::unique("msg");
    let order = [
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
        DeliveryStatus::Accepted,
        DeliveryStatus::Queued,
        DeliveryStatus::Sent,
        DeliveryStatus::Accepted,
    ];
    let tasks: Vec<_> = order
        .into_iter()
        .cycle()
        .take(24)
        .map(|status| {
            let (store, d) = (store.clone(), update(&id, status, None));
            tokio::spawn(async move { store.upsert_delivery(&d).await })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    assert_eq!(status_of(&store, &id).await, DeliveryStatus::Delivered);
    Ok(())
}
