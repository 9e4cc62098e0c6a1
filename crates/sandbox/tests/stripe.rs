//! The emulated Stripe API driven over HTTP as a Stripe client would: shapes, auth, errors
//! naming the parameter, idempotent retries (timeouts included) and signed webhooks.

mod common;

use common::webhooks::HookReceiver;
use common::{client, status_json};
use ring::hmac;
use serde_json::{Value, json};
use switchyard_sandbox::{FaultConfig, SandboxConfig, SandboxHandle};

async fn sandbox_with_hooks(url: Option<&str>) -> SandboxHandle {
    let mut config = SandboxConfig::ephemeral();
    config.stripe.webhook_url = url.map(str::to_owned);
    switchyard_sandbox::start(config)
        .await
        .expect("sandbox starts")
}

/// POSTs a form to `path` with the sandbox's key and an optional idempotency key.
async fn post(
    sandbox: &SandboxHandle,
    path: &str,
    form: &[(&str, &str)],
    key: Option<&str>,
) -> reqwest::Response {
    let mut request = client()
        .post(format!("{}{path}", sandbox.base_url()))
        .bearer_auth(&sandbox.stripe().secret_key)
        .form(form);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.expect("sandbox answers")
}

const SESSION: &[(&str, &str)] = &[
    ("mode", "payment"),
    ("line_items[0][price_data][currency]", "usd"),
    ("line_items[0][price_data][unit_amount]", "1234"),
    ("line_items[0][price_data][product_data][name]", "Term fee"),
    ("line_items[0][quantity]", "2"),
    ("success_url", "https://school.example/paid"),
    ("cancel_url", "https://school.example/cancel"),
    ("client_reference_id", "F1"),
    ("metadata[fee_id]", "F1"),
    ("payment_intent_data[metadata][reference]", "fee-F1"),
];

/// A paid session's payment intent (of 2468 usd cents).
async fn paid_intent(sandbox: &SandboxHandle) -> String {
    let (_, session) =
        status_json(post(sandbox, "/v1/checkout/sessions", SESSION, None).await).await;
    let id = session["id"].as_str().expect("session id");
    sandbox
        .stripe_pay_checkout(id)
        .expect("the session is payable")
}

async fn refund(
    sandbox: &SandboxHandle,
    intent: &str,
    amount: &str,
    key: Option<&str>,
) -> reqwest::Response {
    let form = [
        ("payment_intent", intent),
        ("amount", amount),
        ("metadata[refund_id]", "R1"),
    ];
    post(sandbox, "/v1/refunds", &form, key).await
}

#[tokio::test]
async fn a_checkout_session_is_created_open_and_unpaid_then_paid() {
    let sandbox = sandbox_with_hooks(None).await;
    let (status, session) =
        status_json(post(&sandbox, "/v1/checkout/sessions", SESSION, None).await).await;
    assert_eq!(status, 200, "{session}");
    let id = session["id"].as_str().expect("id");
    assert!(id.starts_with("cs_test_"), "{id}");
    assert_eq!(session["object"], "checkout.session");
    assert_eq!(session["amount_total"], 2468);
    assert_eq!(session["currency"], "usd");
    assert_eq!(
        (
            session["status"].as_str(),
            session["payment_status"].as_str()
        ),
        (Some("open"), Some("unpaid"))
    );
    assert_eq!(session["payment_intent"], Value::Null);
    assert_eq!(session["client_reference_id"], "F1");
    assert_eq!(session["metadata"]["fee_id"], "F1");
    assert_eq!(session["mode"], "payment");
    let url = session["url"].as_str().expect("url");
    assert!(url.starts_with(&sandbox.base_url()), "{url}");
    assert_eq!(
        client()
            .get(url)
            .send()
            .await
            .expect("url answers")
            .status(),
        200
    );
    assert_eq!(sandbox.requests()[0].message_sid.as_deref(), Some(id));

    let intent = sandbox.stripe_pay_checkout(id).expect("payable");
    let paid = sandbox.stripe_object(id).expect("session kept");
    assert_eq!(
        (paid["status"].as_str(), paid["payment_status"].as_str()),
        (Some("complete"), Some("paid"))
    );
    assert_eq!(paid["payment_intent"], intent.as_str());
    let pi = sandbox.stripe_object(&intent).expect("intent");
    assert_eq!(
        (pi["status"].as_str(), pi["amount"].as_i64()),
        (Some("succeeded"), Some(2468))
    );
    assert!(
        sandbox.stripe_pay_checkout(id).is_err(),
        "a session is paid once"
    );
    let over_http = client()
        .post(format!(
            "{}/_sandbox/stripe/checkout/sessions/cs_nope/pay",
            sandbox.base_url()
        ))
        .send()
        .await
        .expect("hook answers");
    assert_eq!(over_http.status(), 404);
}

#[tokio::test]
async fn wrong_or_missing_keys_are_refused_in_stripe_s_format() {
    let sandbox = sandbox_with_hooks(None).await;
    let url = format!("{}/v1/refunds", sandbox.base_url());
    let wrong = client()
        .post(&url)
        .bearer_auth("sk_test_wrongwrongwrong1234")
        .send()
        .await
        .expect("answers");
    let (status, body) = status_json(wrong).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.starts_with("Invalid API Key provided: sk_test_"),
        "{message}"
    );
    assert!(
        !message.contains("wrongwrong"),
        "the key is masked: {message}"
    );
    let (status, body) = status_json(client().post(&url).send().await.expect("answers")).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("did not provide an API key")
    );
}

#[tokio::test]
async fn a_missing_parameter_is_named_in_full() {
    let sandbox = sandbox_with_hooks(None).await;
    let without_quantity: Vec<_> = SESSION
        .iter()
        .copied()
        .filter(|(k, _)| !k.ends_with("[quantity]"))
        .collect();
    let (status, body) =
        status_json(post(&sandbox, "/v1/checkout/sessions", &without_quantity, None).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "parameter_missing");
    assert_eq!(body["error"]["param"], "line_items[0][quantity]");
    let bad_amount: Vec<_> = SESSION
        .iter()
        .map(|&(k, v)| {
            if k.ends_with("[unit_amount]") {
                (k, "12.34")
            } else {
                (k, v)
            }
        })
        .collect();
    let (status, body) =
        status_json(post(&sandbox, "/v1/checkout/sessions", &bad_amount, None).await).await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("line_items[0][price_data][unit_amount]"))
    );
    let (status, body) = status_json(post(&sandbox, "/v1/refunds", &[], None).await).await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("payment_intent"))
    );
}

#[tokio::test]
async fn partial_refunds_add_up_and_overdrawing_is_refused() {
    let sandbox = sandbox_with_hooks(None).await;
    let intent = paid_intent(&sandbox).await;
    let (status, first) = status_json(refund(&sandbox, &intent, "1000", None).await).await;
    assert_eq!(status, 200, "{first}");
    assert!(first["id"].as_str().expect("id").starts_with("re_"));
    assert_eq!(first["object"], "refund");
    assert_eq!(
        (first["amount"].as_i64(), first["currency"].as_str()),
        (Some(1000), Some("usd"))
    );
    assert_eq!(
        (first["payment_intent"].as_str(), first["status"].as_str()),
        (Some(intent.as_str()), Some("succeeded"))
    );
    assert_eq!(first["metadata"]["refund_id"], "R1");
    assert_eq!(first["reason"], Value::Null);

    let (status, body) = status_json(refund(&sandbox, &intent, "1469", None).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        (
            body["error"]["code"].as_str(),
            body["error"]["param"].as_str()
        ),
        (Some("amount_too_large"), Some("amount"))
    );
    let (status, _) = status_json(refund(&sandbox, &intent, "1468", None).await).await;
    assert_eq!(status, 200);
    let (status, body) = status_json(refund(&sandbox, &intent, "1", None).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("charge_already_refunded"))
    );
    assert_eq!(sandbox.stripe_refunds().len(), 2);

    let (status, body) = status_json(refund(&sandbox, "pi_x", "1", None).await).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "resource_missing");
    assert_eq!(body["error"]["param"], "payment_intent");
    assert_eq!(body["error"]["message"], "No such payment_intent: 'pi_x'");
}

#[tokio::test]
async fn an_idempotent_retry_is_replayed_and_executes_nothing() {
    let sandbox = sandbox_with_hooks(None).await;
    let intent = paid_intent(&sandbox).await;
    let first = refund(&sandbox, &intent, "500", Some("key-1")).await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let (_, first) = status_json(first).await;
    let again = refund(&sandbox, &intent, "500", Some("key-1")).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let (status, again) = status_json(again).await;
    assert_eq!((status, &again), (200, &first));
    assert_eq!(sandbox.stripe_refunds().len(), 1, "one refund, not two");
    let refunded = sandbox
        .stripe_events()
        .iter()
        .filter(|e| e["type"] == "charge.refunded")
        .count();
    assert_eq!(refunded, 1, "one webhook, not two");

    let (status, body) = status_json(refund(&sandbox, &intent, "600", Some("key-1")).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "idempotency_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("Keys for idempotent requests can only be used with the same parameters")
    );
    assert_eq!(sandbox.stripe_refunds().len(), 1);

    // A business refusal is kept too: the retry gets the same 400, even with room left now.
    let (status, _) = status_json(refund(&sandbox, &intent, "99999", Some("key-2")).await).await;
    assert_eq!(status, 400);
    let replayed = refund(&sandbox, &intent, "99999", Some("key-2")).await;
    assert_eq!(
        (
            replayed.status().as_u16(),
            replayed.headers()["idempotent-replayed"].to_str().ok()
        ),
        (400, Some("true"))
    );
}

#[tokio::test]
async fn a_refund_retried_after_a_timeout_is_executed_once() {
    let sandbox = sandbox_with_hooks(None).await;
    let intent = paid_intent(&sandbox).await;
    let impatient = common::slow_provider(&sandbox);
    let timed_out = impatient
        .post(format!("{}/v1/refunds", sandbox.base_url()))
        .bearer_auth(&sandbox.stripe().secret_key)
        .header("Idempotency-Key", "retry-me")
        .form(&[("payment_intent", intent.as_str()), ("amount", "700")])
        .send()
        .await;
    assert!(
        timed_out
            .expect_err("the client gives up first")
            .is_timeout()
    );
    let refunds = sandbox.stripe_refunds();
    assert_eq!(
        refunds.len(),
        1,
        "the refund happened although the client timed out"
    );

    sandbox.set_faults(FaultConfig::default());
    let retry = post(
        &sandbox,
        "/v1/refunds",
        &[("payment_intent", intent.as_str()), ("amount", "700")],
        Some("retry-me"),
    )
    .await;
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let (status, body) = status_json(retry).await;
    assert_eq!((status, &body["id"]), (200, &refunds[0]["id"]));
    assert_eq!(
        sandbox.stripe_refunds().len(),
        1,
        "executed once at the provider"
    );
}

#[tokio::test]
async fn an_injected_fault_executes_nothing_and_keeps_no_answer() {
    let sandbox = sandbox_with_hooks(None).await;
    let intent = paid_intent(&sandbox).await;
    sandbox.set_faults(FaultConfig {
        next_statuses: vec![503],
        ..FaultConfig::default()
    });
    let (status, body) = status_json(refund(&sandbox, &intent, "100", Some("k")).await).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (503, Some("api_error"))
    );
    assert!(sandbox.stripe_refunds().is_empty());
    let retry = refund(&sandbox, &intent, "100", Some("k")).await;
    assert!(
        retry.headers().get("idempotent-replayed").is_none(),
        "nothing was stored to replay"
    );
    assert_eq!(retry.status(), 200);
    assert_eq!(sandbox.stripe_refunds().len(), 1);
}

#[tokio::test]
async fn subscriptions_are_created_declined_and_canceled() {
    let sandbox = sandbox_with_hooks(None).await;
    let form = [
        ("customer", "cus_1"),
        ("items[0][price]", "price_term"),
        ("metadata[plan]", "term"),
    ];
    let (status, sub) = status_json(post(&sandbox, "/v1/subscriptions", &form, None).await).await;
    assert_eq!(status, 200, "{sub}");
    let id = sub["id"].as_str().expect("id");
    assert!(id.starts_with("sub_"));
    assert_eq!(
        (sub["object"].as_str(), sub["status"].as_str()),
        (Some("subscription"), Some("active"))
    );
    assert_eq!(sub["customer"], "cus_1");
    assert_eq!(sub["items"]["object"], "list");
    assert_eq!(sub["items"]["data"][0]["price"]["id"], "price_term");
    assert_eq!(sub["metadata"]["plan"], "term");

    let declined = [
        ("customer", "cus_card_declined"),
        ("items[0][price]", "price_term"),
    ];
    let (status, body) =
        status_json(post(&sandbox, "/v1/subscriptions", &declined, None).await).await;
    assert_eq!(status, 402);
    assert_eq!(body["error"]["type"], "card_error");
    assert_eq!(body["error"]["code"], "card_declined");
    assert_eq!(body["error"]["decline_code"], "generic_decline");
    assert_eq!(body["error"]["message"], "Your card was declined.");
    let (status, body) = status_json(
        post(
            &sandbox,
            "/v1/subscriptions",
            &[("customer", "cus_1")],
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("items"))
    );

    let delete = |id: String| {
        client()
            .delete(format!("{}/v1/subscriptions/{id}", sandbox.base_url()))
            .bearer_auth(&sandbox.stripe().secret_key)
            .send()
    };
    let (status, canceled) = status_json(delete(id.to_owned()).await.expect("answers")).await;
    assert_eq!(
        (status, canceled["status"].as_str()),
        (200, Some("canceled"))
    );
    let (status, body) = status_json(delete("sub_nope".into()).await.expect("answers")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("resource_missing"))
    );
    let types: Vec<String> = sandbox
        .stripe_events()
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "customer.subscription.created",
            "customer.subscription.deleted"
        ]
    );
}

/// Checks `Stripe-Signature` the way Stripe's documentation says a receiver must.
fn verify(hook: &common::webhooks::Hook, secret: &str) {
    let header = hook.header("stripe-signature");
    let (t, v1) = header.split_once(",v1=").expect("t=…,v1=…");
    let t = t.strip_prefix("t=").expect("t=");
    let tag: Vec<u8> = (0..v1.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&v1[i..i + 2], 16).expect("hex"))
        .collect();
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let signed = [t.as_bytes(), b".", &hook.body].concat();
    hmac::verify(&key, &signed, &tag).expect("the signature verifies");
    let age = chrono_now() - t.parse::<i64>().expect("numeric t");
    assert!((0..60).contains(&age), "fresh timestamp");
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

#[tokio::test]
async fn webhooks_are_signed_and_carry_what_the_payments_worker_reads() {
    let receiver = HookReceiver::start(1).await;
    let sandbox = sandbox_with_hooks(Some(&receiver.url)).await;
    let intent = paid_intent(&sandbox).await;
    let secret = sandbox.stripe().webhook_secret.clone();

    let succeeded = receiver.wait_for("type", "payment_intent.succeeded").await;
    verify(&succeeded, &secret);
    let event = succeeded.json();
    assert!(event["id"].as_str().expect("id").starts_with("evt_"));
    assert_eq!(
        (event["object"].as_str(), event["livemode"].as_bool()),
        (Some("event"), Some(false))
    );
    assert!(event["created"].is_i64());
    let object = &event["data"]["object"];
    assert_eq!(
        (
            object["id"].as_str(),
            object["amount"].as_i64(),
            object["currency"].as_str()
        ),
        (Some(intent.as_str()), Some(2468), Some("usd"))
    );
    // `payment_intent_data[metadata]`, not the session's own metadata, as at Stripe.
    assert_eq!(object["metadata"], json!({"reference": "fee-F1"}));
    verify(
        &receiver
            .wait_for("type", "checkout.session.completed")
            .await,
        &secret,
    );

    status_json(refund(&sandbox, &intent, "468", None).await).await;
    let refunded = receiver.wait_for("type", "charge.refunded").await;
    verify(&refunded, &secret);
    let charge = &refunded.json()["data"]["object"];
    assert!(charge["id"].as_str().expect("charge id").starts_with("ch_"));
    assert_eq!(charge["payment_intent"], intent.as_str());
    assert_eq!(
        (
            charge["amount"].as_i64(),
            charge["amount_refunded"].as_i64()
        ),
        (Some(2468), Some(468))
    );
    assert_eq!(
        (charge["refunded"].as_bool(), charge["currency"].as_str()),
        (Some(false), Some("usd"))
    );
    // Stripe copies the PaymentIntent's metadata onto its charge.
    assert_eq!(charge["metadata"], json!({"reference": "fee-F1"}));

    // The receiver failed its first delivery: retried, and recorded like a Twilio callback.
    common::eventually("three deliveries recorded", || {
        sandbox.callbacks().len() == 3
    })
    .await;
    let callbacks = sandbox.callbacks();
    let retried = callbacks
        .iter()
        .filter(|c| c.attempts == 2)
        .collect::<Vec<_>>();
    assert_eq!(retried.len(), 1, "{callbacks:?}");
    assert_eq!(
        (retried[0].http_status, retried[0].error.as_deref()),
        (Some(204), None)
    );
    assert!(
        sandbox
            .callbacks()
            .iter()
            .any(|c| c.status == "charge.refunded" && c.message_sid.starts_with("evt_"))
    );
}
