//! `/metrics`, `/healthz`, `/readyz`: the counters move with traffic, labels stay bounded, and
//! Prometheus' own linter (`promtool check metrics`, when installed) accepts the exposition.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use switchyard_e2e::{Harness, eventually, new_id, sample};
use switchyard_store::DeliveryStatus;

/// Runs `promtool check metrics` on `text`; `None` when promtool is not installed.
fn promtool(text: &str) -> Option<(bool, String)> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(text.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), report))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_move_and_pass_promtool() {
    let h = Harness::start().await;
    let worker = h.start_worker().await;
    let id = new_id();
    assert_eq!(
        h.send_sms(&id, "+15005550006", "metrics").await.status(),
        202
    );
    assert_eq!(
        h.send_sms(&new_id(), "+15005550001", "parked")
            .await
            .status(),
        202
    );
    let missing_key = h
        .http
        .post(format!("{}/v1/messages", h.ingress()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing_key.status(), 401);
    eventually(Duration::from_secs(10), "delivered", || async {
        h.status(&id).await == Some(DeliveryStatus::Delivered)
    })
    .await;

    let ops = format!("http://{}", h.running.metrics);
    assert_eq!(
        h.http
            .get(format!("{ops}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready = h.http.get(format!("{ops}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "rabbitmq: ok\npostgres: ok\n");
    let ingress_text = h
        .http
        .get(format!("{ops}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        ingress_text
            .contains("switchyard_ingress_requests_total{route=\"/v1/messages\",status=\"202\"} 2"),
        "{ingress_text}"
    );
    assert!(
        ingress_text
            .contains("switchyard_ingress_requests_total{route=\"/v1/messages\",status=\"401\"} 1")
    );
    assert!(ingress_text.contains(
        "switchyard_ingress_requests_total{route=\"/webhooks/twilio/status\",status=\"204\"} 2"
    ));
    assert!(ingress_text.contains("switchyard_publish_confirm_duration_seconds_count"));
    assert!(!ingress_text.contains(&id), "no message ids in labels");

    eventually(Duration::from_secs(5), "queue depth polled", || async {
        worker.metrics.encode().contains(&format!(
            "switchyard_queue_depth_messages{{queue=\"{}.sms.dead\"}} 1",
            h.namespace
        ))
    })
    .await;
    let m = &worker.metrics;
    assert_eq!(
        sample(
            m,
            "switchyard_messages_finished_total{integration=\"sms\",outcome=\"succeeded\"}"
        ),
        3.0,
        "send + two status updates"
    );
    assert_eq!(
        sample(
            m,
            "switchyard_messages_finished_total{integration=\"sms\",outcome=\"parked\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            m,
            "switchyard_errors_total{integration=\"sms\",class=\"permanent\",code=\"invalid_number\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            m,
            "switchyard_provider_requests_total{provider=\"twilio\",status_class=\"2xx\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            m,
            "switchyard_provider_requests_total{provider=\"twilio\",status_class=\"4xx\"}"
        ),
        1.0
    );
    assert!(
        sample(
            m,
            "switchyard_end_to_end_latency_seconds_count{integration=\"sms\"}"
        ) >= 1.0
    );
    assert_eq!(
        sample(m, "switchyard_circuit_breaker_state{integration=\"sms\"}"),
        0.0
    );
    assert_eq!(
        sample(m, "switchyard_consumer_active{integration=\"sms\"}"),
        1.0
    );
    assert_eq!(sample(m, "switchyard_broker_connected"), 1.0);

    for text in [ingress_text, m.encode()] {
        match promtool(&text) {
            Some((ok, report)) => {
                assert!(ok, "promtool rejected the exposition:\n{report}\n{text}")
            }
            None => eprintln!("promtool not installed (Debian package `prometheus`); lint skipped"),
        }
    }
    worker.stop().await;
    h.finish().await;
}
