//! The main path: HTTP → RabbitMQ → SMS worker → Twilio (sandbox) → signed status callback →
//! ingress → worker → delivery record `delivered`.

use std::time::Duration;

use switchyard_e2e::{Harness, eventually, finished, new_id};
use switchyard_store::DeliveryStatus;

#[tokio::test(flavor = "multi_thread")]
async fn posted_sms_reaches_twilio_and_the_signed_callback_marks_it_delivered() {
    let h = Harness::start().await;
    let worker = h.start_worker().await;
    let id = new_id();
    let response = h.send_sms(&id, "+15005550006", "Trip fee due Friday").await;
    assert_eq!(response.status(), 202);
    let accepted: serde_json::Value = response.json().await.unwrap();
    assert_eq!(accepted["id"], id.as_str());

    eventually(
        Duration::from_secs(10),
        "delivery record delivered",
        || async { h.status(&id).await == Some(DeliveryStatus::Delivered) },
    )
    .await;

    let requests = h.sandbox.requests();
    let send = requests
        .iter()
        .find(|r| r.path.ends_with("/Messages.json"))
        .expect("a Twilio request");
    assert_eq!(send.method, "POST");
    assert_eq!(
        send.path,
        format!(
            "/2010-04-01/Accounts/{}/Messages.json",
            switchyard_sandbox::DEFAULT_ACCOUNT_SID
        )
    );
    assert_eq!(send.form_value("To"), Some("+15005550006"));
    assert_eq!(send.form_value("Body"), Some("Trip fee due Friday"));
    assert_eq!(send.form_value("From"), Some("+15005550006"));
    let callback_url = format!("{}/webhooks/twilio/status", h.ingress());
    assert_eq!(
        send.form_value("StatusCallback"),
        Some(callback_url.as_str())
    );
    assert_eq!(send.status, 201);

    // Both callbacks were accepted by the ingress (204 = signature verified and published).
    let callbacks = h.sandbox.callbacks();
    let statuses: Vec<(&str, Option<u16>)> = callbacks
        .iter()
        .map(|c| (c.status.as_str(), c.http_status))
        .collect();
    assert_eq!(
        statuses,
        vec![("sent", Some(204)), ("delivered", Some(204))]
    );

    let record = h.store.delivery("sms", &id).await.unwrap().unwrap();
    assert_eq!(record.provider_ref.as_deref(), send.message_sid.as_deref());
    let attempts = h.store.attempts(&id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, "succeeded");
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_message_id_posted_twice_sends_one_sms() {
    let h = Harness::start().await;
    let worker = h.start_worker().await;
    let id = new_id();
    let body = format!("only once {id}");
    assert_eq!(h.send_sms(&id, "+15005550006", &body).await.status(), 202);
    assert_eq!(h.send_sms(&id, "+15005550006", &body).await.status(), 202);

    eventually(Duration::from_secs(10), "both copies handled", || async {
        let attempts = h.store.attempts(&id).await.unwrap();
        attempts.iter().any(|a| a.outcome == "duplicate")
            && attempts.iter().any(|a| a.outcome == "succeeded")
    })
    .await;
    assert_eq!(
        h.sends_with_body(&body),
        1,
        "one Twilio request for one message id"
    );
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_header_deduplicates_different_ids() {
    let h = Harness::start().await;
    let worker = h.start_worker().await;
    let key = new_id();
    let body = format!("report card {key}");
    for _ in 0..3 {
        let message = serde_json::json!({ "type": "sms.send", "payload": { "to": "+15005550006", "body": body } });
        let response = h
            .http
            .post(format!("{}/v1/messages", h.ingress()))
            .bearer_auth(&h.token)
            .header("Idempotency-Key", &key)
            .json(&message)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    eventually(Duration::from_secs(10), "three copies handled", || async {
        // One copy sends; the two others (possibly retried while the first held the claim)
        // end as duplicates.
        finished(&worker.metrics, "duplicate") >= 2.0
    })
    .await;
    assert_eq!(finished(&worker.metrics, "duplicate"), 2.0);
    assert_eq!(h.sends_with_body(&body), 1);
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn segments_are_counted_by_encoding() {
    let h = Harness::start().await;
    let worker = h.start_worker().await;
    let plain = new_id();
    let long_polish = new_id();
    assert_eq!(
        h.send_sms(&plain, "+15005550006", "Trip fee due Friday")
            .await
            .status(),
        202
    );
    // One character outside GSM-7 makes the whole text UCS-2: 80 characters are two parts.
    let text = format!("Łukasz {}", "x".repeat(73));
    assert_eq!(
        h.send_sms(&long_polish, "+15005550006", &text)
            .await
            .status(),
        202
    );
    eventually(Duration::from_secs(10), "both sent", || async {
        h.status(&plain).await.is_some() && h.status(&long_polish).await.is_some()
    })
    .await;
    let segments = |encoding: &str| {
        switchyard_e2e::sample(
            &worker.metrics,
            &format!("switchyard_sms_segments_total{{encoding=\"{encoding}\"}}"),
        )
    };
    assert_eq!(segments("gsm7"), 1.0);
    assert_eq!(segments("ucs2"), 2.0);
    worker.stop().await;
    h.finish().await;
}
