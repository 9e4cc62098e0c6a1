//! A worker dying mid-flight loses nothing and repeats nothing: unacked messages return to the
//! queue, the idempotency records stop repeats of finished sends, and a send whose HTTP request
//! was on the wire when the process died is found at Twilio (list by recipient) when its claim
//! is taken over, instead of being sent again.

use std::collections::HashMap;
use std::time::Duration;

use switchyard_e2e::{Harness, eventually, new_id};
use switchyard_sandbox::FaultConfig;
use switchyard_store::DeliveryStatus;

const MESSAGES: usize = 40;

async fn publish_all(h: &Harness, tag: &str) -> Vec<(String, String)> {
    let mut sent = Vec::new();
    for i in 0..MESSAGES {
        let (id, body) = (new_id(), format!("{tag} {i}"));
        assert_eq!(h.send_sms(&id, "+15005550006", &body).await.status(), 202);
        sent.push((id, body));
    }
    sent
}

fn sends_per_body(h: &Harness) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for r in h
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/Messages.json"))
    {
        *counts
            .entry(r.form_value("Body").unwrap_or_default().to_owned())
            .or_insert(0) += 1;
    }
    counts
}

async fn all_delivered(h: &Harness, sent: &[(String, String)]) -> bool {
    for (id, _) in sent {
        if h.status(id).await != Some(DeliveryStatus::Delivered) {
            return false;
        }
    }
    true
}

/// How the first worker is stopped midway.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Interruption {
    /// `kill -9`: in-flight provider calls are cut off; their claims must be reconciled.
    Kill,
    /// SIGTERM: in-flight work finishes within the grace period.
    GracefulStop,
}

/// Publishes 40 messages, stops the first worker after some sends, starts a second one, and
/// checks that every message is delivered and sent to the provider exactly once.
async fn interrupted_run_delivers_each_exactly_once(how: Interruption) {
    let h = Harness::start().await;
    h.sandbox.set_faults(FaultConfig {
        latency_ms: 50,
        ..Default::default()
    });
    let sent = publish_all(&h, &format!("{how:?}")).await;
    let first = h.start_worker().await;
    eventually(Duration::from_secs(15), "some sends done", || async {
        sends_per_body(&h).len() >= 10
    })
    .await;
    match how {
        Interruption::Kill => first.kill().await,
        Interruption::GracefulStop => first.stop().await,
    }
    let at_stop = sends_per_body(&h).len();
    assert!(
        at_stop < MESSAGES,
        "stopped mid-way ({at_stop} of {MESSAGES} sent)"
    );

    let second = h.start_worker().await;
    eventually(
        Duration::from_secs(30),
        "every message delivered after restart",
        || async { all_delivered(&h, &sent).await },
    )
    .await;
    let counts = sends_per_body(&h);
    for (_, body) in &sent {
        assert_eq!(
            counts.get(body).copied(),
            Some(1),
            "{body} sent exactly once"
        );
    }
    let lookups = h
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/Messages.json"))
        .count();
    eprintln!("{how:?}: sends interrupted and looked up at the provider: {lookups}");
    second.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_worker_loses_nothing_and_repeats_nothing() {
    interrupted_run_delivers_each_exactly_once(Interruption::Kill).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_stop_midway_then_restart_delivers_each_exactly_once() {
    interrupted_run_delivers_each_exactly_once(Interruption::GracefulStop).await;
}

/// Simulates a worker that claimed `id` and died: the claim's lease has run out.
async fn dead_claim(h: &Harness, id: &str) {
    let claim = h
        .store
        .claim("sms", id, id, Duration::from_millis(1))
        .await
        .unwrap();
    assert_eq!(claim, switchyard_store::Claim::Acquired);
    tokio::time::sleep(Duration::from_millis(20)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_send_that_reached_twilio_is_found_not_repeated() {
    let h = Harness::start().await;
    let id = new_id();
    let body = format!("reached twilio {id}");
    dead_claim(&h, &id).await;
    // What the dead worker's request did before it died: Twilio created the message.
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        h.sandbox.base_url(),
        switchyard_sandbox::DEFAULT_ACCOUNT_SID
    );
    let created: serde_json::Value = h
        .http
        .post(url)
        .basic_auth(
            switchyard_sandbox::DEFAULT_ACCOUNT_SID,
            Some(switchyard_sandbox::DEFAULT_AUTH_TOKEN),
        )
        .form(&[
            ("To", "+15005550006"),
            ("From", "+15005550006"),
            ("Body", body.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let worker = h.start_worker().await;
    assert_eq!(h.send_sms(&id, "+15005550006", &body).await.status(), 202);
    eventually(Duration::from_secs(10), "recorded", || async {
        h.status(&id).await.is_some()
    })
    .await;
    let record = h.store.delivery("sms", &id).await.unwrap().unwrap();
    assert_eq!(
        record.provider_ref.as_deref(),
        created["sid"].as_str(),
        "linked to the message Twilio already had"
    );
    assert_eq!(h.sends_with_body(&body), 1, "not sent a second time");
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_send_that_never_reached_twilio_is_sent() {
    let h = Harness::start().await;
    let id = new_id();
    let body = format!("never reached twilio {id}");
    dead_claim(&h, &id).await;
    let worker = h.start_worker().await;
    assert_eq!(h.send_sms(&id, "+15005550006", &body).await.status(), 202);
    eventually(Duration::from_secs(10), "delivered", || async {
        h.status(&id).await == Some(DeliveryStatus::Delivered)
    })
    .await;
    assert_eq!(h.sends_with_body(&body), 1);
    let lookups = h
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/Messages.json"))
        .count();
    assert_eq!(lookups, 1, "Twilio was asked before sending");
    worker.stop().await;
    h.finish().await;
}
