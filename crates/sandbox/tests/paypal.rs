//! The emulated PayPal API driven over HTTP as a PayPal client would: OAuth, orders, refunds,
//! subscriptions, `PayPal-Request-Id` retries and webhooks signed like PayPal's.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::webhooks::{Hook, HookReceiver};
use common::{client, status_json};
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use serde_json::{Value, json};
use switchyard_sandbox::{FaultConfig, SandboxConfig, SandboxHandle};

async fn sandbox_with_hooks(url: Option<&str>) -> SandboxHandle {
    let mut config = SandboxConfig::ephemeral();
    config.paypal.webhook_url = url.map(str::to_owned);
    switchyard_sandbox::start(config)
        .await
        .expect("sandbox starts")
}

async fn token(sandbox: &SandboxHandle) -> String {
    let paypal = sandbox.paypal();
    let answer = client()
        .post(format!("{}/v1/oauth2/token", sandbox.base_url()))
        .basic_auth(&paypal.client_id, Some(&paypal.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("answers");
    let (status, body) = status_json(answer).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("token").to_owned()
}

/// POSTs JSON `body` (or nothing) with a fresh token and an optional `PayPal-Request-Id`.
async fn post(
    sandbox: &SandboxHandle,
    path: &str,
    body: Option<&Value>,
    request_id: Option<&str>,
) -> reqwest::Response {
    let mut request = client()
        .post(format!("{}{path}", sandbox.base_url()))
        .bearer_auth(token(sandbox).await);
    if let Some(body) = body {
        request = request.json(body);
    }
    if let Some(id) = request_id {
        request = request.header("PayPal-Request-Id", id);
    }
    request.send().await.expect("sandbox answers")
}

fn order(value: &str) -> Value {
    json!({
        "intent": "CAPTURE",
        "purchase_units": [{"reference_id": "F1", "custom_id": "fee-F1",
            "amount": {"currency_code": "EUR", "value": value}}],
        "payment_source": {"paypal": {"experience_context": {
            "return_url": "https://school.example/paid", "cancel_url": "https://school.example/cancel"}}},
    })
}

/// A captured order of EUR 12.34; the capture's id.
async fn captured(sandbox: &SandboxHandle) -> String {
    let (status, created) =
        status_json(post(sandbox, "/v2/checkout/orders", Some(&order("12.34")), None).await).await;
    assert_eq!(status, 201, "{created}");
    sandbox
        .paypal_capture_order(created["id"].as_str().expect("id"))
        .expect("capturable")
}

fn refund_path(capture: &str) -> String {
    format!("/v2/payments/captures/{capture}/refund")
}

/// Refunds EUR `value` of `capture`, with an optional `PayPal-Request-Id`.
async fn refund(
    sandbox: &SandboxHandle,
    capture: &str,
    value: &str,
    request_id: Option<&str>,
) -> (u16, Value) {
    status_json(
        post(
            sandbox,
            &refund_path(capture),
            Some(&eur(value)),
            request_id,
        )
        .await,
    )
    .await
}

fn eur(value: &str) -> Value {
    json!({"amount": {"value": value, "currency_code": "EUR"}, "note_to_payer": "Fee refund"})
}

#[tokio::test]
async fn oauth_issues_tokens_to_the_app_only_and_routes_require_one() {
    let sandbox = sandbox_with_hooks(None).await;
    let url = format!("{}/v1/oauth2/token", sandbox.base_url());
    let answer = client()
        .post(&url)
        .basic_auth(
            &sandbox.paypal().client_id,
            Some(&sandbox.paypal().client_secret),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("answers");
    let (status, body) = status_json(answer).await;
    assert_eq!(status, 200);
    assert_eq!(
        (body["token_type"].as_str(), body["expires_in"].as_u64()),
        (Some("Bearer"), Some(32_400))
    );
    for field in ["scope", "access_token", "app_id", "nonce"] {
        assert!(body[field].is_string(), "{field}: {body}");
    }
    let wrong = client()
        .post(&url)
        .basic_auth("sandbox-paypal-client", Some("nope"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("answers");
    let (status, body) = status_json(wrong).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"error": "invalid_client", "error_description": "Client Authentication failed"})
    );

    let anonymous = client()
        .post(format!("{}/v2/checkout/orders", sandbox.base_url()))
        .bearer_auth("A21AAforged")
        .json(&order("1.00"))
        .send()
        .await
        .expect("answers");
    let (status, body) = status_json(anonymous).await;
    assert_eq!(
        (status, body["name"].as_str()),
        (401, Some("AUTHENTICATION_FAILURE"))
    );
}

#[tokio::test]
async fn an_order_is_created_with_links_and_invalid_ones_name_the_field() {
    let sandbox = sandbox_with_hooks(None).await;
    let (status, created) =
        status_json(post(&sandbox, "/v2/checkout/orders", Some(&order("12.34")), None).await).await;
    assert_eq!(status, 201);
    assert_eq!(created["status"], "CREATED");
    let links = created["links"].as_array().expect("links");
    let rel = |rel: &str| {
        links
            .iter()
            .find(|l| l["rel"] == rel)
            .unwrap_or_else(|| panic!("no {rel} link"))
    };
    assert_eq!(rel("self")["method"], "GET");
    let approve = rel("payer-action")["href"].as_str().expect("href");
    assert!(approve.starts_with(&sandbox.base_url()), "{approve}");
    assert_eq!(
        client()
            .get(approve)
            .send()
            .await
            .expect("answers")
            .status(),
        200
    );
    assert!(rel("approve")["href"].is_string());

    let mut no_value = order("1");
    no_value["purchase_units"][0]["amount"]
        .as_object_mut()
        .expect("amount")
        .remove("value");
    let (status, body) =
        status_json(post(&sandbox, "/v2/checkout/orders", Some(&no_value), None).await).await;
    assert_eq!(
        (status, body["name"].as_str()),
        (400, Some("INVALID_REQUEST"))
    );
    assert_eq!(
        body["details"][0]["field"],
        "/purchase_units/@reference_id=='F1'/amount/value"
    );
    assert_eq!(body["details"][0]["issue"], "MISSING_REQUIRED_PARAMETER");
    assert_eq!(body["details"][0]["location"], "body");
    assert!(body["debug_id"].is_string());
    let (status, body) =
        status_json(post(&sandbox, "/v2/checkout/orders", Some(&order("1.234")), None).await).await;
    assert_eq!(
        (status, body["details"][0]["value"].as_str()),
        (400, Some("1.234"))
    );
    let (status, body) = status_json(
        post(
            &sandbox,
            "/v2/checkout/orders",
            Some(&json!({"purchase_units": []})),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["details"][0]["field"].as_str()),
        (400, Some("/intent"))
    );
}

#[tokio::test]
async fn refunds_add_up_and_are_refused_past_the_captured_amount() {
    let sandbox = sandbox_with_hooks(None).await;
    let capture = captured(&sandbox).await;
    assert_eq!(
        sandbox.paypal_object(&capture).expect("capture")["status"],
        "COMPLETED"
    );
    let (status, first) = refund(&sandbox, &capture, "10.00", None).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["status"], "COMPLETED");
    assert_eq!(
        first["amount"],
        json!({"currency_code": "EUR", "value": "10.00"})
    );
    assert!(
        first["links"]
            .as_array()
            .expect("links")
            .iter()
            .any(|l| l["rel"] == "up")
    );

    let (status, body) = refund(&sandbox, &capture, "2.35", None).await;
    assert_eq!(
        (status, body["name"].as_str()),
        (422, Some("UNPROCESSABLE_ENTITY"))
    );
    assert_eq!(body["details"][0]["issue"], "REFUND_AMOUNT_EXCEEDED");
    let (status, rest) =
        status_json(post(&sandbox, &refund_path(&capture), None, None).await).await;
    assert_eq!(
        (status, rest["amount"]["value"].as_str()),
        (201, Some("2.34")),
        "no body refunds the rest"
    );
    let (status, body) =
        status_json(post(&sandbox, &refund_path(&capture), None, None).await).await;
    assert_eq!(
        (status, body["details"][0]["issue"].as_str()),
        (422, Some("CAPTURE_FULLY_REFUNDED"))
    );
    assert_eq!(sandbox.paypal_refunds().len(), 2);
    let (status, body) = status_json(post(&sandbox, &refund_path("NOPE"), None, None).await).await;
    assert_eq!(
        (status, body["name"].as_str()),
        (404, Some("RESOURCE_NOT_FOUND"))
    );
}

#[tokio::test]
async fn a_paypal_request_id_replays_and_refuses_another_body() {
    let sandbox = sandbox_with_hooks(None).await;
    let capture = captured(&sandbox).await;
    let (status, first) = refund(&sandbox, &capture, "1.00", Some("req-1")).await;
    assert_eq!(status, 201);
    let (status, again) = refund(&sandbox, &capture, "1.00", Some("req-1")).await;
    assert_eq!((status, &again), (201, &first));
    assert_eq!(sandbox.paypal_refunds().len(), 1, "executed once");
    let refunded = sandbox
        .paypal_events()
        .iter()
        .filter(|e| e["event_type"] == "PAYMENT.CAPTURE.REFUNDED")
        .count();
    assert_eq!(refunded, 1, "one webhook");
    let (status, body) = refund(&sandbox, &capture, "2.00", Some("req-1")).await;
    assert_eq!(
        (status, body["details"][0]["issue"].as_str()),
        (422, Some("PAYPAL_REQUEST_ID_PREVIOUSLY_USED"))
    );
    assert_eq!(sandbox.paypal_refunds().len(), 1);
}

#[tokio::test]
async fn a_refund_retried_after_a_timeout_is_executed_once() {
    let sandbox = sandbox_with_hooks(None).await;
    let capture = captured(&sandbox).await;
    let token = token(&sandbox).await;
    let impatient = common::slow_provider(&sandbox);
    let url = format!("{}{}", sandbox.base_url(), refund_path(&capture));
    let timed_out = impatient
        .post(&url)
        .bearer_auth(&token)
        .header("PayPal-Request-Id", "r")
        .json(&eur("3.00"))
        .send()
        .await;
    assert!(timed_out.expect_err("times out").is_timeout());
    let refunds = sandbox.paypal_refunds();
    assert_eq!(
        refunds.len(),
        1,
        "the refund happened although the client timed out"
    );
    sandbox.set_faults(FaultConfig::default());
    let (status, body) = refund(&sandbox, &capture, "3.00", Some("r")).await;
    assert_eq!((status, &body["id"]), (201, &refunds[0]["id"]));
    assert_eq!(sandbox.paypal_refunds().len(), 1);
}

#[tokio::test]
async fn subscriptions_are_created_and_cancelled_once() {
    let sandbox = sandbox_with_hooks(None).await;
    let body = json!({"plan_id": "P-TERM", "custom_id": "S1"});
    let (status, sub) =
        status_json(post(&sandbox, "/v1/billing/subscriptions", Some(&body), None).await).await;
    assert_eq!(status, 201, "{sub}");
    let id = sub["id"].as_str().expect("id");
    assert!(id.starts_with("I-"));
    assert_eq!(
        (
            sub["status"].as_str(),
            sub["plan_id"].as_str(),
            sub["custom_id"].as_str()
        ),
        (Some("APPROVAL_PENDING"), Some("P-TERM"), Some("S1"))
    );
    assert!(
        sub["links"]
            .as_array()
            .expect("links")
            .iter()
            .any(|l| l["rel"] == "approve")
    );
    let (status, missing) = status_json(
        post(
            &sandbox,
            "/v1/billing/subscriptions",
            Some(&json!({})),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, missing["details"][0]["field"].as_str()),
        (400, Some("/plan_id"))
    );

    let cancel = format!("/v1/billing/subscriptions/{id}/cancel");
    let reason = json!({"reason": "left the school"});
    assert_eq!(
        post(&sandbox, &cancel, Some(&reason), None).await.status(),
        204
    );
    let (status, body) = status_json(post(&sandbox, &cancel, Some(&reason), None).await).await;
    assert_eq!(
        (status, body["details"][0]["issue"].as_str()),
        (422, Some("SUBSCRIPTION_STATUS_INVALID"))
    );
    let (status, body) = status_json(
        post(
            &sandbox,
            "/v1/billing/subscriptions/I-NOPE/cancel",
            Some(&reason),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["name"].as_str()),
        (404, Some("RESOURCE_NOT_FOUND"))
    );
    let types: Vec<Value> = sandbox
        .paypal_events()
        .iter()
        .map(|e| e["event_type"].clone())
        .collect();
    assert_eq!(
        types,
        [
            "BILLING.SUBSCRIPTION.CREATED",
            "BILLING.SUBSCRIPTION.CANCELLED"
        ]
    );
}

/// The RSAPublicKey inside a DER certificate's SubjectPublicKeyInfo, found by walking the
/// TBSCertificate's fields (version, serial, signature, issuer, validity, subject, SPKI).
fn rsa_public_key(cert: &[u8]) -> &[u8] {
    // (header length, content length) of the TLV at `at`.
    let tlv = |at: usize| -> (usize, usize) {
        let first = usize::from(cert[at + 1]);
        if first < 0x80 {
            return (2, first);
        }
        let n = first & 0x7f;
        (
            2 + n,
            cert[at + 2..at + 2 + n]
                .iter()
                .fold(0, |len, b| len << 8 | usize::from(*b)),
        )
    };
    let skip = |at: usize| {
        let (h, l) = tlv(at);
        at + h + l
    };
    let tbs = tlv(0).0;
    let mut at = tbs + tlv(tbs).0;
    if cert[at] == 0xA0 {
        at = skip(at);
    }
    for _ in 0..5 {
        at = skip(at);
    }
    let algorithm = at + tlv(at).0;
    let bits = skip(algorithm);
    assert_eq!(cert[bits], 0x03, "a BIT STRING");
    let (h, l) = tlv(bits);
    &cert[bits + h + 1..bits + h + l]
}

/// CRC-32 (IEEE), table-driven: computed here independently of the sandbox's own.
fn crc32(bytes: &[u8]) -> u32 {
    let table: Vec<u32> = (0..256u32)
        .map(|n| {
            (0..8).fold(n, |c, _| {
                if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                }
            })
        })
        .collect();
    !bytes.iter().fold(u32::MAX, |c, b| {
        table[((c ^ u32::from(*b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

/// Verifies a webhook as PayPal's offline scheme says: fetch the certificate, check
/// SHA256withRSA over `id|time|webhook_id|crc32(body)`.
async fn verify_offline(hook: &Hook, webhook_id: &str) {
    assert_eq!(hook.header("paypal-auth-algo"), "SHA256withRSA");
    let pem = client()
        .get(hook.header("paypal-cert-url"))
        .send()
        .await
        .expect("cert")
        .text()
        .await
        .expect("pem");
    let base64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(base64).expect("PEM body");
    let message = format!(
        "{}|{}|{webhook_id}|{}",
        hook.header("paypal-transmission-id"),
        hook.header("paypal-transmission-time"),
        crc32(&hook.body)
    );
    let signature = STANDARD
        .decode(hook.header("paypal-transmission-sig"))
        .expect("base64 signature");
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa_public_key(&der))
        .verify(message.as_bytes(), &signature)
        .expect("the signature verifies with the certificate's key");
    chrono_check(hook.header("paypal-transmission-time"));
}

fn chrono_check(time: &str) {
    assert!(
        time.ends_with('Z') && time.contains('T'),
        "RFC 3339: {time}"
    );
}

/// Asks the sandbox's verify-webhook-signature about `body` sent with `hook`'s headers.
async fn verify_online(sandbox: &SandboxHandle, hook: &Hook, body: &[u8]) -> String {
    let fields = json!({
        "auth_algo": hook.header("paypal-auth-algo"), "cert_url": hook.header("paypal-cert-url"),
        "transmission_id": hook.header("paypal-transmission-id"),
        "transmission_sig": hook.header("paypal-transmission-sig"),
        "transmission_time": hook.header("paypal-transmission-time"),
        "webhook_id": sandbox.paypal().webhook_id,
    });
    // Spliced in byte for byte, as the ingress does.
    let mut payload = fields.to_string().into_bytes();
    payload.pop();
    payload.extend_from_slice(b",\"webhook_event\":");
    payload.extend_from_slice(body);
    payload.push(b'}');
    let answer = client()
        .post(format!(
            "{}/v1/notifications/verify-webhook-signature",
            sandbox.base_url()
        ))
        .bearer_auth(token(sandbox).await)
        .header("content-type", "application/json")
        .body(payload)
        .send()
        .await
        .expect("answers");
    let (status, verdict) = status_json(answer).await;
    assert_eq!(status, 200, "{verdict}");
    verdict["verification_status"]
        .as_str()
        .expect("status")
        .to_owned()
}

#[tokio::test]
async fn webhooks_are_signed_like_paypal_s_and_carry_what_the_payments_worker_reads() {
    let receiver = HookReceiver::start(0).await;
    let sandbox = sandbox_with_hooks(Some(&receiver.url)).await;
    let capture = captured(&sandbox).await;
    let completed = receiver
        .wait_for("event_type", "PAYMENT.CAPTURE.COMPLETED")
        .await;
    verify_offline(&completed, &sandbox.paypal().webhook_id).await;
    let event = completed.json();
    assert!(event["id"].as_str().expect("id").starts_with("WH-"));
    assert_eq!(event["resource"]["id"], capture.as_str());
    assert_eq!(
        event["resource"]["amount"],
        json!({"currency_code": "EUR", "value": "12.34"})
    );
    // The purchase unit's `custom_id`, as PayPal copies it onto the capture.
    assert_eq!(event["resource"]["custom_id"], "fee-F1");

    assert_eq!(
        verify_online(&sandbox, &completed, &completed.body).await,
        "SUCCESS"
    );
    let mut altered = completed.body.to_vec();
    let last_digit = altered
        .iter()
        .rposition(u8::is_ascii_digit)
        .expect("a digit");
    altered[last_digit] = if altered[last_digit] == b'9' {
        b'8'
    } else {
        altered[last_digit] + 1
    };
    assert_eq!(
        verify_online(&sandbox, &completed, &altered).await,
        "FAILURE"
    );

    refund(&sandbox, &capture, "2.00", None).await;
    refund(&sandbox, &capture, "3.00", None).await;
    common::eventually("two refund webhooks", || {
        receiver
            .hooks()
            .iter()
            .filter(|h| h.json()["event_type"] == "PAYMENT.CAPTURE.REFUNDED")
            .count()
            == 2
    })
    .await;
    let second = receiver
        .hooks()
        .into_iter()
        .find(|h| h.json()["resource"]["amount"]["value"] == "3.00")
        .expect("second refund");
    verify_offline(&second, &sandbox.paypal().webhook_id).await;
    let refund = &second.json()["resource"];
    assert_eq!(
        refund["seller_payable_breakdown"]["total_refunded_amount"],
        json!({"currency_code": "EUR", "value": "5.00"})
    );
    let up = refund["links"]
        .as_array()
        .expect("links")
        .iter()
        .find(|l| l["rel"] == "up")
        .expect("up link");
    assert!(
        up["href"]
            .as_str()
            .expect("href")
            .ends_with(&format!("/{capture}"))
    );
    assert!(
        sandbox
            .callbacks()
            .iter()
            .all(|c| c.http_status == Some(204))
    );
}

/// In a container network the sandbox listens on every interface but is reached by name: what
/// it hands out (the certificate URL webhooks point at) uses its public URL.
#[tokio::test]
async fn a_public_url_is_what_the_certificate_url_names() {
    let config = SandboxConfig {
        public_url: Some("http://sandbox:8025/".into()),
        ..SandboxConfig::ephemeral()
    };
    let sandbox = switchyard_sandbox::start(config).await.unwrap();
    assert!(
        sandbox
            .paypal_cert_url()
            .starts_with("http://sandbox:8025/v1/notifications/certs/"),
        "{}",
        sandbox.paypal_cert_url()
    );
    // The handle still gives this process the address it can reach.
    assert!(sandbox.base_url().starts_with("http://127.0.0.1:"));
    sandbox.shutdown();
}
