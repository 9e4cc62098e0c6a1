//! Status reports that overtake their delivery are kept and applied when it is recorded.

mod common;

use switchyard_store::{DeliveryStatus, DeliveryUpdate, StatusRecorded};

fn delivery(message_id: &str, provider_ref: &str, status: DeliveryStatus) -> DeliveryUpdate {
    DeliveryUpdate {
        message_id: message_id.to_owned(),
        integration: "sms".into(),
        message_type: "sms.send".into(),
        tenant: None,
        status,
        provider_ref: Some(provider_ref.to_owned()),
        error_code: None,
    }
}

#[tokio::test]
async fn an_early_report_is_applied_when_the_delivery_is_recorded() -> anyhow::Result<()> {
    let store = common::store().await;
    let (message_id, sid) = (common::unique("msg"), common::unique("SM"));
    let early = store
        .record_provider_status("sms", &sid, DeliveryStatus::Delivered, None)
        .await?;
    assert_eq!(early, StatusRecorded::Pending);
    assert!(store.delivery("sms", &message_id).await?.is_none());

    store
        .upsert_delivery(&delivery(&message_id, &sid, DeliveryStatus::Queued))
        .await?;
    let record = store.delivery("sms", &message_id).await?.expect("recorded");
    assert_eq!(
        record.status,
        DeliveryStatus::Delivered,
        "the early report moved it forward"
    );

    let late = store
        .record_provider_status("sms", &sid, DeliveryStatus::Sent, None)
        .await?;
    assert_eq!(late, StatusRecorded::Applied);
    let record = store.delivery("sms", &message_id).await?.expect("recorded");
    assert_eq!(record.status, DeliveryStatus::Delivered, "never backwards");
    Ok(())
}

#[tokio::test]
async fn an_early_failure_keeps_its_error_code() -> anyhow::Result<()> {
    let store = common::store().await;
    let (message_id, sid) = (common::unique("msg"), common::unique("SM"));
    store
        .record_provider_status("sms", &sid, DeliveryStatus::Undelivered, Some("30003"))
        .await?;
    store
        .upsert_delivery(&delivery(&message_id, &sid, DeliveryStatus::Queued))
        .await?;
    let record = store.delivery("sms", &message_id).await?.expect("recorded");
    assert_eq!(record.status, DeliveryStatus::Undelivered);
    assert_eq!(record.error_code.as_deref(), Some("30003"));
    Ok(())
}
