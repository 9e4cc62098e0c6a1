//! Status callbacks: signed like Twilio's, in order, retried, and recorded.

mod common;

use common::{FROM, Receiver, TO, send_valid, status_json};
use switchyard_contract::signature::twilio;
use switchyard_sandbox::{FaultConfig, SandboxHandle};

/// Sends a message asking for callbacks to `receiver` and waits for both to settle.
async fn send_and_settle(sandbox: &SandboxHandle, receiver: &Receiver) -> String {
    let (status, created) = status_json(send_valid(sandbox, Some(&receiver.url)).await).await;
    assert_eq!(status, 201);
    common::eventually("both callbacks to settle", || {
        sandbox.callbacks().len() == 2
    })
    .await;
    created["sid"].as_str().expect("sid").to_owned()
}

#[tokio::test]
async fn callbacks_arrive_signed_in_order_sent_then_delivered() {
    let sandbox = common::sandbox().await;
    let receiver = Receiver::start(0).await;
    let sid = send_and_settle(&sandbox, &receiver).await;
    let received = receiver.received();
    let statuses: Vec<_> = received.iter().map(|r| r.value("MessageStatus")).collect();
    assert_eq!(statuses, [Some("sent"), Some("delivered")]);
    let token = &sandbox.twilio().auth_token;
    for callback in &received {
        let signature = callback
            .signature
            .as_deref()
            .expect("X-Twilio-Signature present");
        // Twilio signs the exact URL it called, query string included.
        assert!(twilio::verify(
            token,
            &receiver.url,
            &callback.form,
            signature
        ));
        assert!(!twilio::verify(
            "another-token",
            &receiver.url,
            &callback.form,
            signature
        ));
        assert_eq!(callback.value("MessageSid"), Some(sid.as_str()));
        assert_eq!(callback.value("SmsSid"), Some(sid.as_str()));
        assert_eq!(callback.value("SmsStatus"), callback.value("MessageStatus"));
        assert_eq!(
            callback.value("AccountSid"),
            Some(sandbox.twilio().account_sid.as_str())
        );
        assert_eq!(
            (callback.value("To"), callback.value("From")),
            (Some(TO), Some(FROM))
        );
        assert_eq!(callback.value("ApiVersion"), Some("2010-04-01"));
        assert_eq!(callback.value("ErrorCode"), None);
    }
    let recorded = sandbox.callbacks();
    assert_eq!(
        (recorded[0].status.as_str(), recorded[1].status.as_str()),
        ("sent", "delivered")
    );
    assert!(
        recorded
            .iter()
            .all(|c| c.http_status == Some(204) && c.error.is_none() && c.attempts == 1)
    );
    assert!(
        recorded
            .iter()
            .all(|c| c.url == receiver.url && c.message_sid == sid)
    );
}

#[tokio::test]
async fn final_status_undelivered_carries_error_code() {
    let sandbox = common::sandbox().await;
    let final_status = Some("undelivered".to_owned());
    sandbox.set_faults(FaultConfig {
        final_status,
        ..FaultConfig::default()
    });
    let receiver = Receiver::start(0).await;
    send_and_settle(&sandbox, &receiver).await;
    let received = receiver.received();
    assert_eq!(
        received[0].value("ErrorCode"),
        None,
        "sent carries no error"
    );
    assert_eq!(received[1].value("MessageStatus"), Some("undelivered"));
    assert_eq!(received[1].value("ErrorCode"), Some("30003"));
    let signature = received[1].signature.as_deref().expect("signed");
    assert!(twilio::verify(
        &sandbox.twilio().auth_token,
        &receiver.url,
        &received[1].form,
        signature
    ));
}

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_answers() {
    let sandbox = common::sandbox().await;
    let receiver = Receiver::start(2).await;
    send_and_settle(&sandbox, &receiver).await;
    let statuses: Vec<_> = receiver
        .received()
        .iter()
        .map(|r| r.value("MessageStatus").map(str::to_owned))
        .collect();
    let expected = ["sent", "sent", "sent", "delivered"].map(|s| Some(s.to_owned()));
    assert_eq!(statuses, expected);
    let recorded = sandbox.callbacks();
    assert_eq!(
        (recorded[0].attempts, recorded[0].http_status),
        (3, Some(204))
    );
    assert_eq!(recorded[0].error, None);
    assert_eq!(recorded[1].attempts, 1);
}

#[tokio::test]
async fn an_unreachable_receiver_is_recorded_as_failed_after_three_retries() {
    let sandbox = common::sandbox().await;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/status", closed.local_addr().expect("addr"));
    drop(closed);
    let (status, _) = status_json(send_valid(&sandbox, Some(&url)).await).await;
    assert_eq!(status, 201);
    common::eventually("both callbacks to give up", || {
        sandbox.callbacks().len() == 2
    })
    .await;
    for callback in sandbox.callbacks() {
        assert_eq!((callback.attempts, callback.http_status), (4, None));
        let error = callback.error.expect("failure is explained");
        assert!(error.contains("not delivered"), "{error}");
    }
}

#[tokio::test]
async fn no_callbacks_without_status_callback_or_for_a_faulted_send() {
    let sandbox = common::sandbox().await;
    let receiver = Receiver::start(0).await;
    send_valid(&sandbox, None).await;
    sandbox.set_faults(FaultConfig {
        next_statuses: vec![503],
        ..FaultConfig::default()
    });
    let (status, _) = status_json(send_valid(&sandbox, Some(&receiver.url)).await).await;
    assert_eq!(status, 503);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(receiver.received().is_empty() && sandbox.callbacks().is_empty());
}
