//! The delivery log: attempts come back in the order they were recorded, field for field.

mod common;

use switchyard_store::{NewAttempt, StoreError};

fn attempt(message_id: &str, n: i32, outcome: &str) -> NewAttempt {
    NewAttempt {
        message_id: message_id.to_owned(),
        integration: "sms".into(),
        message_type: "sms.send".into(),
        tenant: Some("school-7".into()),
        attempt: n,
        outcome: outcome.into(),
        error_class: None,
        error_code: None,
        provider_ref: None,
        duration_ms: 12 * i64::from(n),
    }
}

#[tokio::test]
async fn attempts_round_trip_in_order() -> anyhow::Result<()> {
    let store = common::store().await;
    let message_id = common::unique("msg");
    let first = NewAttempt {
        error_class: Some("retryable".into()),
        error_code: Some("http_503".into()),
        ..attempt(&message_id, 1, "retried")
    };
    let second = NewAttempt {
        provider_ref: Some("SM123".into()),
        tenant: None,
        ..attempt(&message_id, 2, "succeeded")
    };
    store.record_attempt(&first).await?;
    store.record_attempt(&second).await?;
    store
        .record_attempt(&attempt(&common::unique("other"), 1, "succeeded"))
        .await?;

    let records = store.attempts(&message_id).await?;
    assert_eq!(records.len(), 2);
    for (record, sent) in records.iter().zip([&first, &second]) {
        assert_eq!(record.message_id, sent.message_id);
        assert_eq!(record.integration, sent.integration);
        assert_eq!(record.message_type, sent.message_type);
        assert_eq!(record.tenant, sent.tenant);
        assert_eq!(record.attempt, sent.attempt);
        assert_eq!(record.outcome, sent.outcome);
        assert_eq!(record.error_class, sent.error_class);
        assert_eq!(record.error_code, sent.error_code);
        assert_eq!(record.provider_ref, sent.provider_ref);
        assert_eq!(record.duration_ms, sent.duration_ms);
    }
    assert!(records[0].id < records[1].id);
    assert!(records[0].recorded_at <= records[1].recorded_at);
    Ok(())
}

#[tokio::test]
async fn an_unknown_message_has_no_attempts() -> anyhow::Result<()> {
    let store = common::store().await;
    assert!(store.attempts(&common::unique("nobody")).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_negative_duration_is_refused() {
    let store = common::store().await;
    let bad = NewAttempt {
        duration_ms: -1,
        ..attempt(&common::unique("msg"), 1, "succeeded")
    };
    let err = store
        .record_attempt(&bad)
        .await
        .expect_err("negative duration");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(store.attempts(&bad.message_id).await.unwrap().is_empty());
}
