//! A worker dying mid-flight loses nothing: unacked messages return to the queue, the
//! idempotency records stop repeats of finished sends, and a new worker delivers the rest.
//!
//! Twilio's Messages API has no idempotency key, so a send whose HTTP request was on the wire
//! when the process died cannot be known to have happened: those (at most `concurrency`) are
//! delivered at least once. Every other message is delivered exactly once, and a graceful stop
//! (SIGTERM) delivers every message exactly once.

use std::collections::HashMap;
use std::time::Duration;

use switchyard_e2e::{Harness, eventually, new_id};
use switchyard_sandbox::FaultConfig;
use switchyard_store::DeliveryStatus;

const MESSAGES: usize = 40;
const CONCURRENCY: usize = 4;

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

#[tokio::test(flavor = "multi_thread")]
async fn killed_worker_loses_nothing_and_repeats_only_sends_cut_mid_request() {
    let h = Harness::start().await;
    h.sandbox.set_faults(FaultConfig {
        latency_ms: 50,
        ..Default::default()
    });
    let sent = publish_all(&h, "crash").await;
    let first = h.start_worker().await;
    eventually(Duration::from_secs(15), "some sends done", || async {
        sends_per_body(&h).len() >= 10
    })
    .await;
    first.kill().await;
    let at_kill = sends_per_body(&h).len();
    assert!(
        at_kill < MESSAGES,
        "the kill happened mid-flight ({at_kill} of {MESSAGES} sent)"
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
        assert!(
            counts.get(body).copied().unwrap_or(0) >= 1,
            "{body} was never sent"
        );
    }
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    eprintln!("sends repeated after the kill: {}", repeated.len());
    assert!(
        repeated.len() <= CONCURRENCY,
        "only sends in flight at the kill may repeat: {repeated:?}"
    );
    assert!(repeated.iter().all(|(_, n)| **n == 2), "{repeated:?}");
    second.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_stop_midway_then_restart_delivers_each_exactly_once() {
    let h = Harness::start().await;
    h.sandbox.set_faults(FaultConfig {
        latency_ms: 50,
        ..Default::default()
    });
    let sent = publish_all(&h, "graceful").await;
    let first = h.start_worker().await;
    eventually(Duration::from_secs(15), "some sends done", || async {
        sends_per_body(&h).len() >= 10
    })
    .await;
    first.stop().await;
    assert!(sends_per_body(&h).len() < MESSAGES, "stopped mid-way");

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
    second.stop().await;
    h.finish().await;
}
