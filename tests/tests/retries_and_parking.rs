//! Failure paths of the SMS worker: transient errors retry through the TTL tiers, permanent
//! errors and undecodable bodies are parked with their reasons, rate limits are honoured.

use std::time::Duration;

use switchyard_broker::properties as props;
use switchyard_broker::{Broker, Publisher};
use switchyard_e2e::{Harness, amqp_url, drain_queue, eventually, new_id, sample};
use switchyard_sandbox::{FaultConfig, RateLimit};
use switchyard_store::DeliveryStatus;
use switchyard_telemetry::Metrics;

#[tokio::test(flavor = "multi_thread")]
async fn three_503s_then_201_is_delivered_on_attempt_4_through_the_retry_tiers() {
    let h = Harness::start().await;
    h.sandbox.set_faults(FaultConfig {
        next_statuses: vec![503, 503, 503],
        ..Default::default()
    });
    let worker = h.start_worker().await;
    let id = new_id();
    assert_eq!(
        h.send_sms(&id, "+15005550006", "retry me").await.status(),
        202
    );

    eventually(
        Duration::from_secs(15),
        "delivered after retries",
        || async { h.status(&id).await == Some(DeliveryStatus::Delivered) },
    )
    .await;
    let attempts = h.store.attempts(&id).await.unwrap();
    let log: Vec<(i32, &str)> = attempts
        .iter()
        .map(|a| (a.attempt, a.outcome.as_str()))
        .collect();
    assert_eq!(
        log,
        vec![
            (1, "retried"),
            (2, "retried"),
            (3, "retried"),
            (4, "succeeded")
        ]
    );
    assert!(
        attempts[..3]
            .iter()
            .all(|a| a.error_code.as_deref() == Some("provider_unavailable"))
    );
    let sends: Vec<u16> = h
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/Messages.json"))
        .map(|r| r.status)
        .collect();
    assert_eq!(sends, vec![503, 503, 503, 201]);
    assert_eq!(
        h.depth(&worker.broker, "sms.dead").await,
        0,
        "nothing parked"
    );
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_number_is_parked_after_one_attempt_with_reason_headers() {
    let h = Harness::start().await;
    let worker = h.start_worker().await;
    let id = new_id();
    // Twilio's magic test number for "invalid To" (error 21211).
    assert_eq!(
        h.send_sms(&id, "+15005550001", "never sent").await.status(),
        202
    );
    eventually(Duration::from_secs(10), "parked", || async {
        h.status(&id).await == Some(DeliveryStatus::Parked)
    })
    .await;

    let parked = drain_queue(&worker.broker, &format!("{}.sms.dead", h.namespace)).await;
    assert_eq!(parked.len(), 1);
    let p = &parked[0];
    assert_eq!(p.header(props::ERROR_CLASS).as_deref(), Some("permanent"));
    assert_eq!(
        p.header(props::ERROR_CODE).as_deref(),
        Some("invalid_number")
    );
    assert_eq!(p.header(props::WORKER).as_deref(), Some("sms"));
    assert_eq!(props::get_u32(&p.headers, "x-switchyard-attempts"), Some(1));
    assert!(
        p.header(props::FIRST_FAILURE_AT).is_some() && p.header(props::LAST_FAILURE_AT).is_some()
    );
    let reason = p.header(props::REASON).unwrap();
    assert!(
        reason.contains("21211") && !reason.contains("+15005550001"),
        "reason masks the number: {reason}"
    );
    let envelope: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
    assert_eq!(envelope["id"], id.as_str());
    assert_eq!(h.sends_with_body("never sent"), 1, "one attempt only");
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undecodable_body_is_parked_as_decode_failed() {
    let h = Harness::start().await;
    let worker = h.start_worker().await;
    let broker = Broker::connect(&amqp_url(), h.topology(), "test-publisher", Metrics::new())
        .await
        .unwrap();
    let publisher = Publisher::new(broker.clone(), Duration::from_secs(5));
    let properties = props::for_envelope("garbage-1", "sms.send", None);
    let exchange = h.topology().main_exchange();
    publisher
        .publish(&exchange, "sms.send", b"{not json", properties, true)
        .await
        .unwrap();

    let dead = format!("{}.sms.dead", h.namespace);
    eventually(Duration::from_secs(10), "parked", || async {
        broker.queue_depth(&dead).await.unwrap() == 1
    })
    .await;
    let parked = drain_queue(&broker, &dead).await;
    assert_eq!(
        parked[0].header(props::ERROR_CODE).as_deref(),
        Some("decode_failed")
    );
    assert_eq!(parked[0].body, b"{not json");
    let errors = sample(
        &worker.metrics,
        "switchyard_errors_total{integration=\"sms\",class=\"permanent\",code=\"decode_failed\"}",
    );
    assert_eq!(errors, 1.0);
    worker.stop().await;
    broker.close().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_is_retried_later_not_parked() {
    let h = Harness::start().await;
    h.sandbox.set_faults(FaultConfig {
        rate_limit: Some(RateLimit {
            retry_after_secs: 1,
        }),
        ..Default::default()
    });
    let worker = h.start_worker().await;
    let id = new_id();
    assert_eq!(
        h.send_sms(&id, "+15005550006", "slow down").await.status(),
        202
    );
    eventually(
        Duration::from_secs(10),
        "a rate-limited attempt",
        || async {
            h.store
                .attempts(&id)
                .await
                .unwrap()
                .iter()
                .any(|a| a.error_class.as_deref() == Some("rate_limited"))
        },
    )
    .await;
    h.sandbox.set_faults(FaultConfig::default());
    eventually(Duration::from_secs(10), "delivered", || async {
        h.status(&id).await == Some(DeliveryStatus::Delivered)
    })
    .await;
    assert_eq!(h.depth(&worker.broker, "sms.dead").await, 0);
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_twilio_credentials_are_permanent_and_counted() {
    let h = Harness::start().await;
    let mut run = h.run.clone();
    run.twilio_auth_token = "wrong-token".into();
    let worker = h
        .start_worker_custom(&amqp_url(), h.store.clone(), &run)
        .await;
    let id = new_id();
    assert_eq!(
        h.send_sms(&id, "+15005550006", "bad credentials")
            .await
            .status(),
        202
    );
    eventually(Duration::from_secs(10), "parked", || async {
        h.status(&id).await == Some(DeliveryStatus::Parked)
    })
    .await;
    let errors = sample(
        &worker.metrics,
        "switchyard_errors_total{integration=\"sms\",class=\"permanent\",code=\"auth_failed\"}",
    );
    assert_eq!(errors, 1.0);
    assert_eq!(h.store.attempts(&id).await.unwrap().len(), 1, "not retried");
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn templates_render_and_a_missing_variable_parks() {
    let h = Harness::start().await;
    let worker = h.start_worker().await;
    let (good, bad) = (new_id(), new_id());
    let vars = serde_json::json!({ "student": "Ada", "amount": "45.00", "due": "2026-12-04" });
    let message = |id: &str, vars: serde_json::Value| {
        serde_json::json!({ "id": id, "type": "sms.send",
            "payload": { "to": "+15005550006", "template": "fee_reminder", "vars": vars } })
    };
    assert_eq!(
        h.post("/v1/messages", &message(&good, vars)).await.status(),
        202
    );
    assert_eq!(
        h.post(
            "/v1/messages",
            &message(&bad, serde_json::json!({ "student": "Ada" }))
        )
        .await
        .status(),
        202
    );
    eventually(Duration::from_secs(10), "both settled", || async {
        h.status(&good).await == Some(DeliveryStatus::Delivered)
            && h.status(&bad).await == Some(DeliveryStatus::Parked)
    })
    .await;
    let expected = "Reminder: Ada's fee of 45.00 is due on 2026-12-04. Reply STOP to opt out.";
    assert_eq!(h.sends_with_body(expected), 1);
    let bad_attempt = &h.store.attempts(&bad).await.unwrap()[0];
    assert_eq!(
        bad_attempt.error_code.as_deref(),
        Some("template_variable_missing")
    );
    // The parked copy says which variable, so the publisher can fix its message.
    let parked = drain_queue(&worker.broker, &format!("{}.sms.dead", h.namespace)).await;
    let reason = parked[0].header(props::REASON).unwrap_or_default();
    assert!(reason.contains("\"amount\""), "{reason}");
    worker.stop().await;
    h.finish().await;
}
