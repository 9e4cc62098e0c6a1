//! `email.bulk`: fanned out into one `email.send` per recipient with deterministic ids, so a
//! worker killed mid-way and a re-run of the same bulk still reach each recipient once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_e2e::email::EmailHarness;
use switchyard_e2e::{eventually, new_id};
use switchyard_sandbox::{FaultConfig, SmtpFaults};
use switchyard_store::DeliveryStatus;

const RECIPIENTS: usize = 2000;

fn bulk(n: usize) -> Value {
    let recipients: Vec<Value> = (0..n)
        .map(|i| json!({"to": format!("p{i}@example.org"), "vars": {"student": format!("S{i}")}}))
        .collect();
    json!({"template": "report_card", "vars": {"term": "Autumn", "url": "https://erp.example/r"},
           "recipients": recipients})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_of_2000_reaches_each_recipient_once_despite_a_kill_and_a_rerun() {
    let e = EmailHarness::start().await;
    // A slightly slow relay, so the kill lands while sends are going on.
    e.h.sandbox.set_faults(FaultConfig {
        smtp: SmtpFaults {
            data_delay_ms: 2,
            ..SmtpFaults::default()
        },
        ..FaultConfig::default()
    });
    let settings = e.settings();
    let worker = e.start_worker(&settings).await;
    let (big, stop) = e.big_ingress(4 * 1024 * 1024).await;
    let ingress = format!("http://{}", big.ingress.expect("ingress"));
    let bulk_id = new_id();
    let response = e
        .post_type_to(&ingress, "email.bulk", &bulk_id, bulk(RECIPIENTS))
        .await;
    assert_eq!(response.status(), 202);

    eventually(Duration::from_secs(30), "some sent", || async {
        e.h.sandbox.mail().len() >= 300
    })
    .await;
    worker.kill().await;
    let at_kill = e.h.sandbox.mail().len();
    assert!(at_kill < RECIPIENTS, "killed mid-way ({at_kill} sent)");

    let worker = e.start_worker(&settings).await;
    // The ERP re-runs the same bulk: nothing may be sent twice.
    let response = e
        .post_type_to(&ingress, "email.bulk", &bulk_id, bulk(RECIPIENTS))
        .await;
    assert_eq!(response.status(), 202);
    eventually(
        Duration::from_secs(120),
        "every recipient reached",
        || async {
            let reached: BTreeSet<String> =
                e.h.sandbox
                    .mail()
                    .iter()
                    .map(|m| m.rcpt_to.join(","))
                    .collect();
            reached.len() == RECIPIENTS && e.h.depth(&worker.broker, "email").await == 0
        },
    )
    .await;
    // Let the re-run's copies drain (each is acked as a duplicate).
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mail = e.h.sandbox.mail();
    let mut ids_by_recipient: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in &mail {
        let id = m.header("Message-ID").unwrap_or_default().to_owned();
        ids_by_recipient
            .entry(m.rcpt_to.join(","))
            .or_default()
            .insert(id);
    }
    assert_eq!(ids_by_recipient.len(), RECIPIENTS);
    assert!(
        ids_by_recipient.values().all(|ids| ids.len() == 1),
        "one Message-ID per recipient"
    );
    // SMTP cannot be asked what it took: only a send cut between the relay's 250 and our
    // record (at most the 4 in flight at the kill) can reach the relay twice, and then with
    // the same Message-ID, which receivers deduplicate.
    assert!(
        mail.len() <= RECIPIENTS + 4,
        "{} relay copies for {RECIPIENTS} recipients",
        mail.len()
    );
    for i in (0..RECIPIENTS).step_by(97) {
        let id = switchyard_email::send_id(&bulk_id, i);
        let record = e.h.store.delivery("email", &id).await.unwrap().unwrap();
        assert_eq!(record.status, DeliveryStatus::Sent, "send {i}");
        let succeeded =
            e.h.store
                .attempts(&id)
                .await
                .unwrap()
                .iter()
                .filter(|a| a.outcome == "succeeded")
                .count();
        assert_eq!(succeeded, 1, "send {i} succeeded once");
    }
    worker.stop().await;
    stop.cancel();
    e.h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_over_ten_thousand_recipients_is_refused_at_the_ingress_naming_the_limit() {
    let e = EmailHarness::start().await;
    let (big, stop) = e.big_ingress(4 * 1024 * 1024).await;
    let ingress = format!("http://{}", big.ingress.expect("ingress"));
    let response = e
        .post_type_to(&ingress, "email.bulk", &new_id(), bulk(10_001))
        .await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    let text = problem.to_string();
    assert!(text.contains("/payload/recipients"), "{text}");
    assert!(text.contains("10000"), "{text}");
    stop.cancel();
    e.h.finish().await;
}
