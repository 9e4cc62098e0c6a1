//! A provider outage opens the breaker: the worker stops consuming, messages wait in RabbitMQ
//! (nothing parked, attempts not burnt), and when the outage ends everything is delivered.

use std::time::Duration;

use switchyard_e2e::{Harness, eventually, new_id, sample};
use switchyard_sandbox::{FaultConfig, Outage};
use switchyard_store::DeliveryStatus;

const STATE: &str = "switchyard_circuit_breaker_state{integration=\"sms\"}";
const ACTIVE: &str = "switchyard_consumer_active{integration=\"sms\"}";

/// Posts the messages `outage <i>` for `range`; each is accepted (202). Returns their ids.
async fn send(h: &Harness, range: std::ops::Range<usize>) -> Vec<String> {
    let mut ids = Vec::new();
    for i in range {
        let id = new_id();
        let status = h
            .send_sms(&id, "+15005550006", &format!("outage {i}"))
            .await
            .status();
        assert_eq!(status, 202);
        ids.push(id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn outage_pauses_consumption_and_recovery_delivers_everything() {
    let h = Harness::start().await;
    let worker = h.start_worker().await;
    h.sandbox.set_faults(FaultConfig {
        outage: Some(Outage {
            status: 503,
            seconds: None,
        }),
        ..Default::default()
    });
    let mut ids = send(&h, 0..6).await;
    eventually(
        Duration::from_secs(10),
        "breaker open and consumer stopped",
        || async {
            sample(&worker.metrics, STATE) == 2.0 && sample(&worker.metrics, ACTIVE) == 0.0
        },
    )
    .await;

    // More traffic while open: accepted by the ingress, waiting in the queue.
    ids.extend(send(&h, 6..16).await);
    let sends = || {
        h.sandbox
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/Messages.json"))
            .count()
    };
    let before = sends();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sends(),
        before,
        "no send attempts while the breaker is open (probes only)"
    );
    let probes = h
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    assert!(probes >= 1, "the breaker probes the provider while open");
    assert!(
        h.depth(&worker.broker, "sms").await >= 10,
        "messages wait in RabbitMQ"
    );
    assert_eq!(
        h.depth(&worker.broker, "sms.dead").await,
        0,
        "nothing parked during the outage"
    );

    h.sandbox.set_faults(FaultConfig::default());
    eventually(
        Duration::from_secs(20),
        "all 16 delivered after the outage",
        || async {
            for id in &ids {
                if h.status(id).await != Some(DeliveryStatus::Delivered) {
                    return false;
                }
            }
            true
        },
    )
    .await;
    assert_eq!(sample(&worker.metrics, STATE), 0.0);
    assert_eq!(sample(&worker.metrics, ACTIVE), 1.0);
    assert!(
        sample(
            &worker.metrics,
            "switchyard_circuit_breaker_transitions_total{integration=\"sms\",to=\"open\"}"
        ) >= 1.0
    );
    assert_eq!(h.depth(&worker.broker, "sms.dead").await, 0);
    for id in &ids {
        let attempts = h.store.attempts(id).await.unwrap();
        assert!(
            attempts.len() <= 3,
            "{id}: attempts were not burnt during the outage: {}",
            attempts.len()
        );
    }
    worker.stop().await;
    h.finish().await;
}
