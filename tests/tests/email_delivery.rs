//! Email end to end: HTTP → RabbitMQ → email worker → the sandbox's SMTP relays → delivery
//! log; retries of 4xx replies, parking of 5xx recipients, the breaker on an outage, failover
//! to the secondary relay, an unanswered DATA resent with the same Message-ID, and bad input
//! refused at the ingress.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_broker::properties as props;
use switchyard_e2e::email::{EmailHarness, finished};
use switchyard_e2e::{drain_queue, eventually, new_id, sample};
use switchyard_sandbox::{FaultConfig, SmtpFaults};
use switchyard_store::DeliveryStatus;

const STATE: &str = "switchyard_circuit_breaker_state{integration=\"email\"}";
const ACTIVE: &str = "switchyard_consumer_active{integration=\"email\"}";

fn smtp(faults: SmtpFaults) -> FaultConfig {
    FaultConfig {
        smtp: faults,
        ..FaultConfig::default()
    }
}

fn primary_down() -> FaultConfig {
    smtp(SmtpFaults {
        down: vec!["primary".into()],
        ..SmtpFaults::default()
    })
}

/// Posts `n` emails with subjects `<label> <i>`, each accepted; returns their ids.
async fn post_many(e: &EmailHarness, label: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = new_id();
        let response = e.post(&id, simple(&format!("{label} {i}"))).await;
        assert_eq!(response.status(), 202);
        ids.push(id);
    }
    ids
}

fn simple(subject: &str) -> Value {
    json!({"to": ["parent@example.org"], "subject": subject, "text": "Hello"})
}

#[tokio::test(flavor = "multi_thread")]
async fn an_email_is_delivered_with_its_headers_parts_attachment_and_stable_message_id() {
    let e = EmailHarness::start().await;
    let worker = e.start_worker(&e.settings()).await;
    let id = new_id();
    let payload = json!({
        "to": [{"email": "grace@example.org", "name": "Grace Hopper"}],
        "cc": ["office@example.org"],
        "bcc": ["archive@example.org"],
        "reply_to": "registrar@greenfield.example",
        "subject": format!("Trip fee {id}"),
        "text": "The fee is due on Friday.",
        "html": "<p>The fee is due on <b>Friday</b>.</p>",
        "attachments": [{"filename": "invoice.txt", "content_type": "text/plain", "content": "SW52b2ljZSA0Mg=="}],
        "headers": {"X-Campaign": "trip-fees"}
    });
    assert_eq!(e.post(&id, payload).await.status(), 202);
    eventually(Duration::from_secs(10), "email sent", || async {
        e.status(&id).await == Some(DeliveryStatus::Sent)
    })
    .await;

    let mail = e.mail_with_subject(&format!("Trip fee {id}"));
    assert_eq!(mail.len(), 1, "one message for one email");
    let mail = &mail[0];
    assert_eq!(mail.listener, "primary");
    assert_eq!(mail.authenticated_as.as_deref(), Some("switchyard"));
    assert_eq!(mail.mail_from, "office@greenfield.example");
    assert_eq!(
        mail.rcpt_to,
        [
            "grace@example.org",
            "office@example.org",
            "archive@example.org"
        ]
    );
    assert_eq!(
        mail.header("From"),
        Some("\"Greenfield School\" <office@greenfield.example>")
    );
    assert!(mail.header("To").unwrap().contains("grace@example.org"));
    assert!(
        mail.header("Reply-To")
            .unwrap()
            .contains("registrar@greenfield.example")
    );
    assert_eq!(mail.header("Bcc"), None, "Bcc stays in the envelope");
    assert_eq!(mail.header("X-Campaign"), Some("trip-fees"));
    // The idempotency key defaults to the message id: the Message-ID is derived from it.
    let expected = switchyard_email::message_id(&id, "greenfield.example");
    assert_eq!(mail.header("Message-ID"), Some(expected.as_str()));
    assert!(
        mail.header("Content-Type")
            .unwrap()
            .starts_with("multipart/mixed")
    );
    for part in [
        "text/plain",
        "text/html",
        "multipart/alternative",
        "filename=\"invoice.txt\"",
    ] {
        assert!(mail.body.contains(part), "body lacks {part}: {}", mail.body);
    }
    assert!(mail.body.contains("Invoice 42"), "the attachment's content");

    let record = e.h.store.delivery("email", &id).await.unwrap().unwrap();
    assert_eq!(
        record.provider_ref,
        Some(format!("primary:{}", mail.queue_id))
    );
    worker.stop().await;
    e.h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_renders_subject_text_and_escaped_html() {
    let e = EmailHarness::start().await;
    let worker = e.start_worker(&e.settings()).await;
    let id = new_id();
    let student = format!("Ada <{}>", &id[..8]);
    let payload = json!({
        "to": ["parent@example.org"],
        "template": "report_card",
        "vars": {"student": student, "term": "Autumn 2026", "url": "https://erp.example/r/42"}
    });
    assert_eq!(e.post(&id, payload).await.status(), 202);
    let subject = format!("{student}'s report card for Autumn 2026");
    eventually(Duration::from_secs(10), "templated email", || async {
        !e.mail_with_subject(&subject).is_empty()
    })
    .await;
    let body = &e.mail_with_subject(&subject)[0].body;
    assert!(
        body.contains("&lt;"),
        "variables are escaped in HTML: {body}"
    );
    worker.stop().await;
    e.h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_replies_are_retried_and_the_email_delivered_once() {
    let e = EmailHarness::start().await;
    e.h.sandbox.set_faults(smtp(SmtpFaults {
        rcpt_replies: vec![451],
        data_replies: vec![421],
        ..SmtpFaults::default()
    }));
    let worker = e.start_worker(&e.settings()).await;
    let id = new_id();
    assert_eq!(
        e.post(&id, simple(&format!("retry {id}"))).await.status(),
        202
    );
    eventually(Duration::from_secs(15), "sent after retries", || async {
        e.status(&id).await == Some(DeliveryStatus::Sent)
    })
    .await;
    // The attempt log is written after the delivery record.
    eventually(Duration::from_secs(5), "three attempts logged", || async {
        e.h.store.attempts(&id).await.unwrap().len() == 3
    })
    .await;
    let attempts = e.h.store.attempts(&id).await.unwrap();
    let log: Vec<(&str, Option<&str>)> = attempts
        .iter()
        .map(|a| (a.outcome.as_str(), a.error_code.as_deref()))
        .collect();
    assert_eq!(
        log,
        vec![
            ("retried", Some("smtp_temporary_failure")),
            ("retried", Some("smtp_service_unavailable")),
            ("succeeded", None)
        ]
    );
    assert_eq!(e.mail_with_subject(&format!("retry {id}")).len(), 1);
    worker.stop().await;
    e.h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recipient_refused_at_rcpt_is_parked_with_its_code() {
    let e = EmailHarness::start().await;
    e.h.sandbox.set_faults(smtp(SmtpFaults {
        rcpt_replies: vec![550],
        ..SmtpFaults::default()
    }));
    let worker = e.start_worker(&e.settings()).await;
    let id = new_id();
    assert_eq!(e.post(&id, simple("never sent")).await.status(), 202);
    eventually(Duration::from_secs(10), "parked", || async {
        e.status(&id).await == Some(DeliveryStatus::Parked)
    })
    .await;
    let dead = format!("{}.email.dead", e.h.namespace);
    let parked = drain_queue(&worker.broker, &dead).await;
    assert_eq!(parked.len(), 1);
    let headers = &parked[0];
    assert_eq!(
        headers.header("x-switchyard-error-code").as_deref(),
        Some("recipient_rejected")
    );
    assert_eq!(
        props::get_u32(&headers.headers, "x-switchyard-attempts"),
        Some(1)
    );
    let reason = headers.header("x-switchyard-reason").unwrap();
    assert!(
        reason.contains("550") && reason.contains("RCPT TO"),
        "{reason}"
    );
    assert!(
        !reason.contains("parent@example.org"),
        "addresses masked: {reason}"
    );
    assert!(e.h.sandbox.mail().is_empty());
    assert_eq!(
        sample(&worker.metrics, STATE),
        0.0,
        "a bad recipient is not an outage"
    );
    worker.stop().await;
    e.h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_opens_the_breaker_and_recovery_delivers_everything() {
    let e = EmailHarness::start().await;
    e.h.sandbox.set_faults(primary_down());
    let worker = e.start_worker(&e.settings()).await;
    let ids = post_many(&e, "outage", 12).await;
    eventually(
        Duration::from_secs(10),
        "breaker open, consumer stopped",
        || async {
            sample(&worker.metrics, STATE) == 2.0 && sample(&worker.metrics, ACTIVE) == 0.0
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        e.h.depth(&worker.broker, "email").await >= 5,
        "messages wait in RabbitMQ"
    );
    assert_eq!(
        e.h.depth(&worker.broker, "email.dead").await,
        0,
        "nothing parked"
    );

    e.h.sandbox.set_faults(FaultConfig::default());
    eventually(Duration::from_secs(20), "every email sent", || async {
        let mut all = true;
        for id in &ids {
            all &= e.status(id).await == Some(DeliveryStatus::Sent);
        }
        all
    })
    .await;
    assert_eq!(e.h.sandbox.mail().len(), 12, "each once");
    assert_eq!(finished(&worker.metrics, "parked"), 0.0);
    worker.stop().await;
    e.h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_primary_down_email_goes_through_the_secondary_and_the_record_says_so() {
    let e = EmailHarness::start().await;
    e.h.sandbox.set_faults(primary_down());
    let mut settings = e.settings();
    settings.smtp_failover_url = Some(e.secondary_url());
    let worker = e.start_worker(&settings).await;
    let ids = post_many(&e, "failover", 5).await;
    for id in &ids {
        eventually(Duration::from_secs(10), "sent", || async {
            e.status(id).await == Some(DeliveryStatus::Sent)
        })
        .await;
        let record = e.h.store.delivery("email", id).await.unwrap().unwrap();
        let provider_ref = record.provider_ref.unwrap();
        assert!(provider_ref.starts_with("secondary:"), "{provider_ref}");
        // Failover happens within the attempt (the log is written after the record).
        eventually(Duration::from_secs(5), "one attempt logged", || async {
            e.h.store.attempts(id).await.unwrap().len() == 1
        })
        .await;
    }
    let mail = e.h.sandbox.mail();
    assert_eq!(mail.len(), 5);
    assert!(mail.iter().all(|m| m.listener == "secondary"));
    assert_eq!(
        sample(&worker.metrics, STATE),
        0.0,
        "the breaker never opened"
    );
    worker.stop().await;
    e.h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unanswered_data_is_resent_with_the_same_message_id() {
    let e = EmailHarness::start().await;
    e.h.sandbox.set_faults(smtp(SmtpFaults {
        drop_after_data: 1,
        ..SmtpFaults::default()
    }));
    let mut settings = e.settings();
    // Never to the other relay: the first may have queued it.
    settings.smtp_failover_url = Some(e.secondary_url());
    let worker = e.start_worker(&settings).await;
    let id = new_id();
    assert_eq!(
        e.post(&id, simple(&format!("unknown {id}"))).await.status(),
        202
    );
    eventually(Duration::from_secs(15), "sent on the retry", || async {
        e.status(&id).await == Some(DeliveryStatus::Sent)
    })
    .await;
    let mail = e.mail_with_subject(&format!("unknown {id}"));
    assert_eq!(
        mail.len(),
        2,
        "the relay got it twice: dropped answer, then the resend"
    );
    assert!(!mail[0].answered && mail[1].answered);
    assert_eq!(mail[0].header("Message-ID"), mail[1].header("Message-ID"));
    assert!(mail.iter().all(|m| m.listener == "primary"));
    let attempts = e.h.store.attempts(&id).await.unwrap();
    assert_eq!(
        attempts[0].error_code.as_deref(),
        Some("smtp_no_reply_after_data")
    );
    worker.stop().await;
    e.h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_park_and_open_the_breaker() {
    let e = EmailHarness::start().await;
    e.h.sandbox.set_faults(smtp(SmtpFaults {
        auth_fail: true,
        ..SmtpFaults::default()
    }));
    let worker = e.start_worker(&e.settings()).await;
    post_many(&e, "auth", 10).await;
    eventually(Duration::from_secs(10), "breaker open", || async {
        sample(&worker.metrics, STATE) == 2.0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let parked = finished(&worker.metrics, "parked");
    assert!(
        (3.0..10.0).contains(&parked),
        "a few park, the rest wait: {parked}"
    );
    worker.stop().await;
    e.h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn header_injection_and_oversize_attachments_are_refused_at_the_ingress() {
    let e = EmailHarness::start().await;
    let injected =
        json!({"to": ["a@example.org"], "subject": "Hi\r\nBcc: victim@example.org", "text": "x"});
    let response = e.post(&new_id(), injected).await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem.to_string().contains("/payload/subject"),
        "{problem}"
    );

    let named = json!({"to": [{"email": "a@example.org", "name": "A\nBcc: b@example.org"}], "subject": "Hi", "text": "x"});
    let problem: Value = e.post(&new_id(), named).await.json().await.unwrap();
    assert!(problem.to_string().contains("/payload/to/0"), "{problem}");

    let (big, stop) = e.big_ingress(16 * 1024 * 1024).await;
    let ingress = format!("http://{}", big.ingress.expect("ingress"));
    let content = "QUJD".repeat(6 * 1024 * 1024 / 3);
    let oversize = json!({"to": ["a@example.org"], "subject": "Hi", "text": "x",
        "attachments": [{"filename": "big.pdf", "content": content}]});
    let response = e.post_to(&ingress, &new_id(), oversize).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem
            .to_string()
            .contains("/payload/attachments/0/content"),
        "{problem}"
    );
    stop.cancel();
    e.h.finish().await;
}
