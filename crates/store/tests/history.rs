//! "What happened to message X": every status change is kept (by the trigger on
//! `deliveries`), whichever path made it, next to the attempts.

mod common;

use switchyard_store::{DeliveryStatus, DeliveryUpdate, NewAttempt};

fn update(message_id: &str, status: DeliveryStatus, provider_ref: Option<&str>) -> DeliveryUpdate {
    DeliveryUpdate {
        message_id: message_id.to_owned(),
        integration: "sms".into(),
        message_type: "sms.send".into(),
        tenant: None,
        status,
        provider_ref: provider_ref.map(str::to_owned),
        error_code: None,
    }
}

#[tokio::test]
async fn the_history_lists_each_status_once_in_order_with_the_attempts() -> anyhow::Result<()> {
    let store = common::store().await;
    let id = common::unique("hist");
    let sid = common::unique("SM");
    assert!(store.message_history(&id).await?.is_none(), "nothing yet");

    store
        .record_attempt(&NewAttempt {
            message_id: id.clone(),
            integration: "sms".into(),
            message_type: "sms.send".into(),
            tenant: None,
            attempt: 1,
            outcome: "succeeded".into(),
            error_class: None,
            error_code: None,
            provider_ref: Some(sid.clone()),
            duration_ms: 12,
        })
        .await?;
    store
        .upsert_delivery(&update(&id, DeliveryStatus::Queued, Some(&sid)))
        .await?;
    // The same status again (a redelivered callback) is not a new event.
    store
        .upsert_delivery(&update(&id, DeliveryStatus::Queued, Some(&sid)))
        .await?;
    store
        .update_delivery_by_provider_ref("sms", &sid, DeliveryStatus::Sent, None)
        .await?;
    store
        .update_delivery_by_provider_ref("sms", &sid, DeliveryStatus::Delivered, None)
        .await?;
    // A late `sent` changes nothing, so it is not history either.
    store
        .update_delivery_by_provider_ref("sms", &sid, DeliveryStatus::Sent, None)
        .await?;

    let history = store.message_history(&id).await?.expect("recorded");
    let statuses: Vec<DeliveryStatus> = history.events.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [
            DeliveryStatus::Queued,
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered
        ]
    );
    assert!(history.events.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(
        history
            .events
            .iter()
            .all(|e| e.provider_ref.as_deref() == Some(sid.as_str()))
    );
    assert_eq!(history.deliveries.len(), 1);
    assert_eq!(history.deliveries[0].status, DeliveryStatus::Delivered);
    assert_eq!(history.attempts.len(), 1);
    assert_eq!(history.attempts[0].outcome, "succeeded");
    Ok(())
}
