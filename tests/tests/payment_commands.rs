//! The payment-commands worker against real RabbitMQ, Postgres and the provider sandbox's
//! Stripe and PayPal: commands posted through the ingress with a payments-scoped key, carried
//! out at the provider with idempotency keys, answered with `erp.*` events; failures named and
//! parked; a refund retried after a timeout executed once.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_broker::Broker;
use switchyard_broker::properties as props;
use switchyard_cli::components::Component;
use switchyard_e2e::tap::Tap;
use switchyard_e2e::{Harness, amqp_url, database_url, drain_queue, eventually, new_id};
use switchyard_sandbox::FaultConfig;
use switchyard_store::{DeliveryRecord, DeliveryStatus, Role};
use switchyard_telemetry::Metrics;

/// Short timeouts and tiers so a retry comes within a test's patience; the handler timeout
/// (1 s) is what a slow provider runs into.
const QUEUES: &str = "[queues.payments]\nrouting_keys = [\"stripe.event\", \"paypal.event\"]\n\
    [queues.payment_commands]\nrouting_keys = [\"payments.checkout.create\", \"payments.refund\", \
    \"payments.subscription.create\", \"payments.subscription.cancel\"]\n\
    prefetch = 8\nconcurrency = 4\nhandler_timeout = \"1s\"\ndelivery_limit = 20\nmax_attempts = 5\n\
    retry_base = \"100ms\"\nretry_tiers = [\"100ms\", \"300ms\"]\n\
    circuit_breaker = { consecutive_failures = 50, open_for = \"300ms\", open_max = \"600ms\" }\n";

struct World {
    h: Harness,
    erp: Tap,
    broker: Broker,
    token: String,
}

impl World {
    async fn start() -> World {
        let h = Harness::start_components(&amqp_url(), &database_url(), QUEUES, components()).await;
        World::around(h).await
    }

    /// A world whose ingress also takes the sandbox's signed webhooks: Stripe by its signing
    /// secret, PayPal by certificate (fetched from the sandbox, allow-listed here).
    async fn with_webhooks() -> World {
        let h = Harness::start_with_webhooks(QUEUES, components(), |sandbox| {
            format!(
                "[[sources]]\nname = \"stripe\"\nkind = \"stripe\"\nsecrets = [\"{}\"]\n\
                 [[sources]]\nname = \"paypal\"\nkind = \"paypal\"\nverify = \"certificate\"\n\
                 webhook_id = \"{}\"\ncert_hosts = [\"{}\"]\n",
                sandbox.stripe().webhook_secret,
                sandbox.paypal().webhook_id,
                sandbox.base_url(),
            )
        })
        .await;
        World::around(h).await
    }

    async fn around(h: Harness) -> World {
        let broker = Broker::connect(&amqp_url(), h.topology(), "test-erp", Metrics::new())
            .await
            .expect("broker");
        let erp = Tap::bind(&h, &broker, "erp", "erp.#").await;
        let (_, token) = h
            .store
            .create_api_key(
                &format!("{}-erp", h.namespace),
                Role::Publisher,
                &["payments.".to_owned()],
            )
            .await
            .expect("payments key");
        World {
            h,
            erp,
            broker,
            token,
        }
    }

    /// Posts a command through the ingress; returns its message id.
    async fn command(&self, message_type: &str, payload: Value) -> String {
        let id = new_id();
        let message = json!({ "id": id, "type": message_type, "tenant": self.h.namespace, "payload": payload });
        let response = self.post(&message).await;
        assert_eq!(
            response.status(),
            202,
            "{}",
            response.text().await.unwrap_or_default()
        );
        id
    }

    async fn post(&self, message: &Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/v1/messages", self.h.ingress()))
            .bearer_auth(&self.token)
            .json(message)
            .send()
            .await
            .expect("ingress answers")
    }

    /// The command's delivery record once it reached `status`.
    async fn settled(&self, id: &str, status: DeliveryStatus) -> DeliveryRecord {
        eventually(Duration::from_secs(20), "the command settled", || async {
            self.record(id).await.is_some_and(|r| r.status == status)
        })
        .await;
        self.record(id).await.expect("recorded")
    }

    async fn record(&self, id: &str) -> Option<DeliveryRecord> {
        self.h.store.delivery("payment_commands", id).await.unwrap()
    }

    /// A paid checkout of `amount` pence: its payment's id (Stripe PaymentIntent, PayPal
    /// capture), as a refund names it.
    async fn payment(&self, provider: &str, amount: i64) -> String {
        self.paid_checkout(provider, amount).await.0
    }

    /// [`payment`](Self::payment) and the checkout command's `reference`.
    async fn paid_checkout(&self, provider: &str, amount: i64) -> (String, String) {
        let command = checkout(provider, amount);
        let reference = command["reference"].as_str().expect("reference").to_owned();
        let id = self.command("payments.checkout.create", command).await;
        let record = self.settled(&id, DeliveryStatus::Sent).await;
        let checkout = record.provider_ref.expect("the session or order id");
        let sandbox = &self.h.sandbox;
        let payment = match provider {
            "stripe" => sandbox.stripe_pay_checkout(&checkout),
            _ => sandbox.paypal_capture_order(&checkout),
        }
        .expect("paid");
        (payment, reference)
    }

    /// The refunds the provider made.
    fn refunds(&self, provider: &str) -> Vec<Value> {
        match provider {
            "stripe" => self.h.sandbox.stripe_refunds(),
            _ => self.h.sandbox.paypal_refunds(),
        }
    }

    fn parking_queue(&self) -> String {
        self.h.topology().parking_queue("payment_commands")
    }

    async fn finish(self) {
        self.erp.delete().await;
        self.h.finish().await;
    }
}

fn components() -> BTreeSet<Component> {
    BTreeSet::from([Component::Ingress, Component::Payments])
}

fn checkout(provider: &str, amount: i64) -> Value {
    json!({ "provider": provider, "reference": format!("fee-{}", new_id()), "amount": amount,
        "currency": "GBP", "description": "Term 1 tuition",
        "success_url": "https://erp.example/paid", "cancel_url": "https://erp.example/fees" })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stripe_checkout_is_created_and_its_page_announced() {
    let w = World::start().await;
    let id = w
        .command("payments.checkout.create", checkout("stripe", 45_000))
        .await;
    let record = w.settled(&id, DeliveryStatus::Sent).await;
    let session_id = record.provider_ref.expect("session id");
    let session =
        w.h.sandbox
            .stripe_object(&session_id)
            .expect("the session exists");
    assert_eq!(session["amount_total"], 45_000);
    assert_eq!(session["currency"], "gbp");
    let events = w.erp.settle().await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["type"], "erp.checkout.created");
    assert_eq!(event["causation_id"], id.as_str());
    assert_eq!(event["tenant"], w.h.namespace.as_str());
    assert_eq!(event["payload"]["checkout_id"], session_id.as_str());
    assert_eq!(event["payload"]["url"], session["url"]);
    assert_eq!(event["payload"]["amount"], 45_000);
    w.finish().await;
}

/// The done-when case: the first refund request takes effect at the provider but its answer
/// comes after the handler's timeout. The retry sends the same `Idempotency-Key` /
/// `PayPal-Request-Id`, the provider replays the stored refund, and the payer is refunded once.
async fn refund_retried_after_a_timeout_is_executed_once(provider: &str) {
    let w = World::start().await;
    let payment = w.payment(provider, 3_000).await;
    w.h.sandbox.set_faults(FaultConfig {
        latency_ms: 2_500,
        ..FaultConfig::default()
    });
    let refund =
        json!({ "provider": provider, "payment_id": payment, "amount": 1_000, "currency": "GBP" });
    let id = w.command("payments.refund", refund).await;
    eventually(
        Duration::from_secs(10),
        "the slow refund took effect",
        || async { !w.refunds(provider).is_empty() },
    )
    .await;
    // The handler has given up on the slow answer by now; the provider is fast again.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    w.h.sandbox.set_faults(FaultConfig::default());
    let record = w.settled(&id, DeliveryStatus::Sent).await;
    let refunds = w.refunds(provider);
    assert_eq!(refunds.len(), 1, "executed once: {refunds:?}");
    assert_eq!(record.provider_ref.as_deref(), refunds[0]["id"].as_str());
    let requests = w.h.sandbox.requests();
    let sent = requests
        .iter()
        .filter(|r| r.path.ends_with("/refund") || r.path == "/v1/refunds");
    let sent = sent.count();
    assert!(
        sent >= 2,
        "the refund was sent again (and replayed): {sent} requests"
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stripe_refund_retried_after_a_timeout_is_executed_once() {
    refund_retried_after_a_timeout_is_executed_once("stripe").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paypal_refund_retried_after_a_timeout_is_executed_once() {
    refund_retried_after_a_timeout_is_executed_once("paypal").await;
}

/// A refund larger than the payment is permanent, named, and refunds nothing; the reason keeps
/// the provider's own code.
async fn refund_larger_than_the_payment_is_parked_and_named(provider: &str, provider_code: &str) {
    let w = World::start().await;
    let payment = w.payment(provider, 2_000).await;
    let refund =
        json!({ "provider": provider, "payment_id": payment, "amount": 2_001, "currency": "GBP" });
    let id = w.command("payments.refund", refund).await;
    let record = w.settled(&id, DeliveryStatus::Parked).await;
    assert_eq!(record.error_code.as_deref(), Some("refund_exceeds_payment"));
    assert!(w.refunds(provider).is_empty(), "nothing refunded");
    let parked = drain_queue(&w.broker, &w.parking_queue()).await;
    assert_eq!(parked.len(), 1);
    assert_eq!(
        parked[0].header(props::ERROR_CODE).as_deref(),
        Some("refund_exceeds_payment")
    );
    let reason = parked[0].header(props::REASON).unwrap_or_default();
    assert!(
        reason.contains(provider_code),
        "the provider's own code: {reason}"
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stripe_refund_larger_than_the_payment_is_parked_and_named() {
    refund_larger_than_the_payment_is_parked_and_named("stripe", "amount_too_large").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paypal_refund_larger_than_the_payment_is_parked_and_named() {
    refund_larger_than_the_payment_is_parked_and_named("paypal", "REFUND_AMOUNT_EXCEEDED").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paypal_order_is_created_announced_and_refunded_in_full() {
    let w = World::start().await;
    let id = w
        .command("payments.checkout.create", checkout("paypal", 1_050))
        .await;
    let order_id = w
        .settled(&id, DeliveryStatus::Sent)
        .await
        .provider_ref
        .expect("order id");
    let order =
        w.h.sandbox
            .paypal_object(&order_id)
            .expect("the order exists");
    assert_eq!(order["purchase_units"][0]["amount"]["value"], "10.50");
    let events = w.erp.settle().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "erp.checkout.created");
    let url = events[0]["payload"]["url"]
        .as_str()
        .expect("the approval link");
    assert!(url.contains(&order_id), "{url}");
    let capture =
        w.h.sandbox
            .paypal_capture_order(&order_id)
            .expect("captured");
    let id = w
        .command(
            "payments.refund",
            json!({ "provider": "paypal", "payment_id": capture }),
        )
        .await;
    w.settled(&id, DeliveryStatus::Sent).await;
    let refunds = w.refunds("paypal");
    assert_eq!(refunds.len(), 1);
    assert_eq!(
        refunds[0]["amount"]["value"], "10.50",
        "everything left: {refunds:?}"
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn paypal_subscriptions_wait_for_approval_and_can_be_cancelled() {
    let w = World::start().await;
    let create = json!({ "provider": "paypal", "plan": "P-MEALS", "reference": "meal-plan-3",
        "return_url": "https://erp.example/ok", "cancel_url": "https://erp.example/no" });
    let id = w.command("payments.subscription.create", create).await;
    let subscription = w
        .settled(&id, DeliveryStatus::Sent)
        .await
        .provider_ref
        .expect("id");
    let events = w.erp.settle().await;
    assert_eq!(events[0]["type"], "erp.subscription.created");
    assert_eq!(events[0]["payload"]["status"], "APPROVAL_PENDING");
    assert!(
        events[0]["payload"]["approve_url"].is_string(),
        "{events:?}"
    );
    let cancel = json!({ "provider": "paypal", "subscription_id": subscription, "reason": "Left the school" });
    let id = w.command("payments.subscription.cancel", cancel).await;
    w.settled(&id, DeliveryStatus::Sent).await;
    let stored = w.h.sandbox.paypal_object(&subscription).expect("exists");
    assert_eq!(stored["status"], "CANCELLED");
    // Cancelling again is refused by PayPal and named, not retried forever.
    let again = json!({ "provider": "paypal", "subscription_id": subscription });
    let id = w.command("payments.subscription.cancel", again).await;
    let record = w.settled(&id, DeliveryStatus::Parked).await;
    assert_eq!(
        record.error_code.as_deref(),
        Some("subscription_status_invalid")
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stripe_subscriptions_are_created_announced_and_cancelled() {
    let w = World::start().await;
    let create = json!({ "provider": "stripe", "plan": "price_meals", "customer": "cus_ada",
        "reference": "meal-plan-1" });
    let id = w.command("payments.subscription.create", create).await;
    let record = w.settled(&id, DeliveryStatus::Sent).await;
    let subscription = record.provider_ref.expect("subscription id");
    let events = w.erp.settle().await;
    assert_eq!(events[0]["type"], "erp.subscription.created");
    assert_eq!(events[0]["payload"]["status"], "active");
    assert_eq!(
        events[0]["payload"]["subscription_id"],
        subscription.as_str()
    );

    let cancel = json!({ "provider": "stripe", "subscription_id": subscription });
    let id = w.command("payments.subscription.cancel", cancel).await;
    w.settled(&id, DeliveryStatus::Sent).await;
    let stored = w.h.sandbox.stripe_object(&subscription).expect("exists");
    assert_eq!(stored["status"], "canceled");

    let declined = json!({ "provider": "stripe", "plan": "price_meals",
        "customer": "cus_card_declined", "reference": "meal-plan-2" });
    let id = w.command("payments.subscription.create", declined).await;
    let record = w.settled(&id, DeliveryStatus::Parked).await;
    assert_eq!(record.error_code.as_deref(), Some("card_declined"));
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_commands_are_refused_at_the_door_naming_the_field() {
    let w = World::start().await;
    let cases = [
        (
            "payments.refund",
            json!({ "provider": "stripe", "payment_id": "pi_1", "amount": 5 }),
            "currency",
        ),
        (
            "payments.subscription.create",
            json!({ "provider": "stripe", "plan": "price_1", "reference": "r" }),
            "customer",
        ),
        (
            "payments.checkout.create",
            json!({ "provider": "bitcoin", "reference": "r", "amount": 1,
            "currency": "GBP", "description": "d", "success_url": "https://a", "cancel_url": "https://b" }),
            "provider",
        ),
    ];
    for (message_type, payload, field) in cases {
        let message = json!({ "id": new_id(), "type": message_type, "payload": payload });
        let response = w.post(&message).await;
        assert_eq!(response.status(), 422, "{message_type}");
        let problem = response.text().await.unwrap();
        assert!(
            problem.contains(field),
            "{message_type}: names `{field}`: {problem}"
        );
    }
    w.finish().await;
}

/// The whole loop, as in production: the ERP's checkout command → the provider's payment page
/// → the payer pays → the provider's signed webhook → the gateway verifies it (Stripe: HMAC;
/// PayPal: SHA256withRSA against the certificate it fetches) → the payments worker → the ERP
/// hears `erp.payment.succeeded`; then a refund command comes back as `erp.refund.succeeded`.
/// Both name the checkout's `reference`, the fee the ERP knows: Stripe carries it in the
/// PaymentIntent's (and charge's) metadata; PayPal in the capture's `custom_id`, and the refund
/// (whose resource lacks it) takes it from the stored payment.
async fn paid_and_refunded_checkout_comes_back_to_the_erp(provider: &str) {
    let w = World::with_webhooks().await;
    let (payment, reference) = w.paid_checkout(provider, 4_500).await;
    let announced = |erp_type: &'static str| {
        let erp = &w.erp;
        let payment = payment.clone();
        async move {
            let mut seen = Vec::new();
            for _ in 0..40 {
                seen.extend(erp.take().await);
                if let Some(e) = seen.iter().find(|e| e["type"] == erp_type) {
                    assert_eq!(e["payload"]["payment_id"], payment.as_str(), "{e}");
                    return e.clone();
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            panic!("no {erp_type} for {payment}; the ERP heard {seen:?}")
        }
    };
    let paid = announced("erp.payment.succeeded").await;
    assert_eq!(paid["payload"]["amount"], 4_500);
    assert_eq!(paid["payload"]["currency"], "GBP");
    assert_eq!(paid["payload"]["reference"], reference.as_str(), "{paid}");
    let refund =
        json!({ "provider": provider, "payment_id": payment, "amount": 500, "currency": "GBP" });
    w.command("payments.refund", refund).await;
    let refunded = announced("erp.refund.succeeded").await;
    assert_eq!(refunded["payload"]["amount_refunded"], 500);
    assert_eq!(refunded["payload"]["status"], "partially_refunded");
    assert_eq!(
        refunded["payload"]["reference"],
        reference.as_str(),
        "{refunded}"
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stripe_payment_and_refund_come_back_to_the_erp_through_signed_webhooks() {
    paid_and_refunded_checkout_comes_back_to_the_erp("stripe").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paypal_payment_and_refund_come_back_to_the_erp_through_certificate_verified_webhooks() {
    paid_and_refunded_checkout_comes_back_to_the_erp("paypal").await;
}
