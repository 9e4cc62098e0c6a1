//! The payments worker against real RabbitMQ and Postgres: signed Stripe and PayPal-shaped
//! events through the gateway (Stripe) or straight onto the exchange (PayPal, whose gateway
//! verification is covered in webhooks.rs) → the payments row and `erp.*` events on the main
//! exchange.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_broker::{Broker, Publisher, properties};
use switchyard_cli::components::Component;
use switchyard_e2e::tap::Tap;
use switchyard_e2e::webhooks::Gateway;
use switchyard_e2e::{Harness, amqp_url, database_url, eventually, sample};
use switchyard_ingress::webhooks::stripe;
use switchyard_store::PaymentStatus;
use switchyard_telemetry::Metrics;

const SOURCES: &str =
    "[[sources]]\nname = \"stripe\"\nkind = \"stripe\"\nsecrets = [\"whsec_test\"]\n";

const PAYMENTS_QUEUE: &str = "[queues.payments]\nrouting_keys = [\"stripe.event\", \"paypal.event\"]\n\
    prefetch = 8\nconcurrency = 4\nhandler_timeout = \"5s\"\ndelivery_limit = 20\nmax_attempts = 5\n\
    retry_base = \"100ms\"\nretry_tiers = [\"100ms\", \"200ms\"]\n\
    rate_limit = { per_second = 1000, burst = 1000 }\n\
    circuit_breaker = { consecutive_failures = 3, open_for = \"300ms\", open_max = \"600ms\" }\n";

struct World {
    h: Harness,
    gateway: Gateway,
    broker: Broker,
    erp: Tap,
}

impl World {
    async fn start() -> World {
        let h = Harness::start_components(
            &amqp_url(),
            &database_url(),
            PAYMENTS_QUEUE,
            BTreeSet::from([Component::Ingress, Component::Payments]),
        )
        .await;
        let gateway = Gateway::start(&h, SOURCES).await;
        let broker = Broker::connect(&amqp_url(), h.topology(), "test-erp", Metrics::new())
            .await
            .expect("broker");
        let erp = Tap::bind(&h, &broker, "erp", "erp.#").await;
        World {
            h,
            gateway,
            broker,
            erp,
        }
    }

    async fn stripe(&self, event: &Value) {
        let body = serde_json::to_vec(event).unwrap();
        let signature = stripe::sign("whsec_test", chrono::Utc::now().timestamp(), &body);
        let response = reqwest::Client::new()
            .post(format!("{}/webhooks/stripe", self.gateway.url))
            .header("stripe-signature", signature)
            .body(body)
            .send()
            .await
            .expect("gateway answers");
        assert_eq!(response.status(), 200);
    }

    /// A `paypal.event` as the gateway publishes it after verification.
    async fn paypal(&self, event: &Value) {
        self.publish("paypal.event", &event["event_type"], event)
            .await;
    }

    /// `event` published as `message_type` straight onto the exchange, as the gateway would
    /// after verification (or as a broker redelivery would hand it over again).
    async fn publish(&self, message_type: &str, event_type: &Value, event: &Value) {
        let source = message_type.trim_end_matches(".event");
        let envelope = json!({
            "id": event["id"], "type": message_type, "occurred_at": chrono::Utc::now(),
            "payload": {"source": source, "event_type": event_type, "event": event},
        });
        let id = event["id"].as_str().unwrap();
        let publisher = Publisher::new(self.broker.clone(), Duration::from_secs(5));
        publisher
            .publish(
                &self.h.topology().main_exchange(),
                message_type,
                &serde_json::to_vec(&envelope).unwrap(),
                properties::for_envelope(id, message_type, None),
                true,
            )
            .await
            .expect("published");
    }

    /// Every ERP event published so far, after a moment for stragglers.
    async fn erp_events(&self) -> Vec<Value> {
        self.erp.settle().await
    }

    async fn status_becomes(&self, provider: &str, payment_id: &str, status: PaymentStatus) {
        eventually(Duration::from_secs(15), "the payment row", || async {
            let row = self.h.store.payment(provider, payment_id).await.unwrap();
            row.is_some_and(|r| r.status == status)
        })
        .await;
    }

    fn counted(&self, provider: &str, result: &str) -> f64 {
        sample(
            &self.h.running.metrics_registry,
            &format!(
                "switchyard_payment_events_total{{provider=\"{provider}\",result=\"{result}\"}}"
            ),
        )
    }

    async fn finish(self) {
        self.erp.delete().await;
        self.gateway.stop();
        self.h.finish().await;
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

fn intent_succeeded(pi: &str) -> Value {
    json!({"id": unique("evt"), "object": "event", "type": "payment_intent.succeeded",
        "data": {"object": {"id": pi, "object": "payment_intent", "amount": 2000, "currency": "usd"}}})
}

/// `intent_succeeded` as a checkout's PaymentIntent carries it: with the ERP's reference.
fn intent_succeeded_for(pi: &str, reference: &str) -> Value {
    let mut event = intent_succeeded(pi);
    event["data"]["object"]["metadata"] = json!({"reference": reference, "tenant": "lincoln"});
    event
}

#[tokio::test(flavor = "multi_thread")]
async fn stripe_success_is_announced_once_and_recorded() {
    let w = World::start().await;
    let pi = unique("pi");
    let event = intent_succeeded_for(&pi, "fee-2026-T1-0042");
    w.stripe(&event).await;
    w.stripe(&event).await; // Stripe's redelivery of the same event.
    w.status_becomes("stripe", &pi, PaymentStatus::Succeeded)
        .await;
    let events = w.erp_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "erp.payment.succeeded");
    assert_eq!(events[0]["payload"]["amount"], 2000);
    assert_eq!(events[0]["payload"]["currency"], "USD");
    assert_eq!(events[0]["payload"]["payment_id"], pi.as_str());
    assert_eq!(events[0]["payload"]["reference"], "fee-2026-T1-0042");
    let row = w.h.store.payment("stripe", &pi).await.unwrap().unwrap();
    assert_eq!(
        (row.amount, row.currency.as_deref()),
        (Some(2000), Some("USD"))
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_before_the_success_stays_refunded() {
    let w = World::start().await;
    let pi = unique("pi");
    let refund = json!({"id": unique("evt"), "type": "charge.refunded", "data": {"object": {
        "id": unique("ch"), "payment_intent": pi, "amount": 2000, "amount_refunded": 2000,
        "refunded": true, "currency": "usd"}}});
    w.stripe(&refund).await;
    w.status_becomes("stripe", &pi, PaymentStatus::Refunded)
        .await;
    w.stripe(&intent_succeeded(&pi)).await;
    eventually(
        Duration::from_secs(15),
        "the late success taken",
        || async { w.counted("stripe", "unchanged") >= 1.0 },
    )
    .await;
    let row = w.h.store.payment("stripe", &pi).await.unwrap().unwrap();
    assert_eq!(row.status, PaymentStatus::Refunded);
    let events = w.erp_events().await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["erp.refund.succeeded"], "{events:?}");
    assert_eq!(events[0]["payload"]["amount_refunded"], 2000);
    assert_eq!(
        events[0]["payload"]["reference"],
        Value::Null,
        "no event named one"
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn paypal_capture_in_euros_is_in_cents() {
    let w = World::start().await;
    let capture = unique("CAP");
    w.paypal(
        &json!({"id": unique("WH"), "event_type": "PAYMENT.CAPTURE.COMPLETED",
        "resource": {"id": capture, "amount": {"currency_code": "EUR", "value": "10.50"}}}),
    )
    .await;
    w.status_becomes("paypal", &capture, PaymentStatus::Succeeded)
        .await;
    let events = w.erp_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["payload"]["amount"], 1050);
    assert_eq!(events[0]["payload"]["currency"], "EUR");
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_event_type_is_acked_counted_and_not_announced() {
    let w = World::start().await;
    w.stripe(&json!({"id": unique("evt"), "type": "invoice.created", "data": {"object": {}}}))
        .await;
    eventually(Duration::from_secs(15), "counted as ignored", || async {
        w.counted("stripe", "ignored") >= 1.0
    })
    .await;
    assert!(w.erp_events().await.is_empty());
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_event_delivered_twice_by_the_broker_is_applied_and_announced_once() {
    let w = World::start().await;
    let pi = unique("pi");
    let event = intent_succeeded(&pi);
    // Past the gateway's deduplication: the same envelope twice, as after a worker crash
    // before its ack.
    for _ in 0..2 {
        w.publish("stripe.event", &event["type"], &event).await;
    }
    eventually(Duration::from_secs(15), "both deliveries taken", || async {
        w.counted("stripe", "applied") + w.counted("stripe", "unchanged") >= 2.0
    })
    .await;
    assert_eq!(w.counted("stripe", "applied"), 1.0);
    let events = w.erp_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_publish_keeps_nothing_and_the_redelivery_announces_it() {
    let w = World::start().await;
    let pi = unique("pi");
    let event = intent_succeeded(&pi);
    let event_id = event["id"].as_str().unwrap().to_owned();
    // What a worker whose publish was not confirmed (or that died before its commit) leaves.
    let update = switchyard_store::PaymentUpdate {
        provider: "stripe".into(),
        payment_id: pi.clone(),
        tenant: None,
        status: PaymentStatus::Succeeded,
        amount: Some(2000),
        amount_refunded: None,
        currency: Some("USD".into()),
        disputed: false,
        reference: None,
    };
    let pending = switchyard_store::PendingErpEvent {
        erp_type: "erp.payment.succeeded".into(),
        payload: "{}".into(),
    };
    let failed =
        w.h.store
            .apply_payment_event(
                "stripe",
                &event_id,
                Some(&update),
                Box::new(|_, _| Some(pending)),
                |_| async { Err::<(), _>("broker gone") },
            )
            .await;
    assert!(matches!(
        failed,
        Err(switchyard_store::ApplyError::Publish("broker gone"))
    ));
    assert_eq!(w.h.store.payment("stripe", &pi).await.unwrap(), None);
    w.stripe(&event).await; // The redelivery.
    w.status_becomes("stripe", &pi, PaymentStatus::Succeeded)
        .await;
    let events = w.erp_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "erp.payment.succeeded");
    assert_eq!(events[0]["id"], format!("stripe-{event_id}-erp"));
    w.stripe(&intent_succeeded(&pi)).await; // A new event with nothing new: no announcement.
    eventually(
        Duration::from_secs(15),
        "the second event taken",
        || async { w.counted("stripe", "unchanged") >= 1.0 },
    )
    .await;
    assert!(w.erp_events().await.is_empty());
    w.finish().await;
}

/// PayPal's refund resource does not carry the capture's `custom_id`, and webhooks arrive in
/// any order: the refund comes first (announced without a reference), then the capture names
/// the reference (the same state announced again, now with it), then a dispute without one
/// keeps it.
#[tokio::test(flavor = "multi_thread")]
async fn a_reference_learnt_after_the_refund_is_kept_and_announced() {
    let w = World::start().await;
    let capture = unique("CAP");
    let reference = unique("fee");
    let gbp = |value: &str| json!({"currency_code": "GBP", "value": value});
    let up = format!("https://api.paypal.com/v2/payments/captures/{capture}");
    w.paypal(
        &json!({"id": unique("WH"), "event_type": "PAYMENT.CAPTURE.REFUNDED",
        "resource": {"id": unique("REF"), "amount": gbp("5.00"),
            "seller_payable_breakdown": {"total_refunded_amount": gbp("5.00")},
            "links": [{"rel": "up", "href": up}]}}),
    )
    .await;
    w.status_becomes("paypal", &capture, PaymentStatus::PartiallyRefunded)
        .await;
    w.paypal(
        &json!({"id": unique("WH"), "event_type": "PAYMENT.CAPTURE.COMPLETED",
        "resource": {"id": capture, "custom_id": reference, "amount": gbp("45.00")}}),
    )
    .await;
    eventually(Duration::from_secs(15), "the reference kept", || async {
        let row = w.h.store.payment("paypal", &capture).await.unwrap();
        row.is_some_and(|r| r.reference.as_deref() == Some(reference.as_str()))
    })
    .await;
    w.paypal(
        &json!({"id": unique("WH"), "event_type": "CUSTOMER.DISPUTE.CREATED",
        "resource": {"dispute_id": unique("PP-D"), "dispute_amount": gbp("45.00"),
            "disputed_transactions": [{"seller_transaction_id": capture}]}}),
    )
    .await;
    eventually(Duration::from_secs(15), "the dispute recorded", || async {
        let row = w.h.store.payment("paypal", &capture).await.unwrap();
        row.is_some_and(|r| r.disputed)
    })
    .await;
    let row =
        w.h.store
            .payment("paypal", &capture)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(row.reference.as_deref(), Some(reference.as_str()));
    assert_eq!(
        (row.status, row.amount, row.amount_refunded),
        (PaymentStatus::PartiallyRefunded, Some(4500), 500)
    );
    let events = w.erp_events().await;
    let seen: Vec<(&str, &Value)> = events
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), &e["payload"]["reference"]))
        .collect();
    let named = Value::from(reference.as_str());
    assert_eq!(
        seen,
        [
            ("erp.refund.succeeded", &Value::Null),
            ("erp.refund.succeeded", &named),
            ("erp.dispute.opened", &named),
        ],
        "{events:?}"
    );
    assert_eq!(events[1]["payload"]["amount_refunded"], 500);
    w.finish().await;
}
