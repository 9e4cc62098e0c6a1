//! The webhook gateway against real RabbitMQ and Postgres: every provider accepted with a valid
//! signature and refused with a body altered by one byte or a stale timestamp; handshakes
//! answered without a publish; a duplicate delivery published once; a broker outage answered
//! 503 (never 2xx) with the provider's retry taken once the broker is back.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};
use switchyard_broker::Broker;
use switchyard_e2e::tap::Tap;
use switchyard_e2e::webhooks::Gateway;
use switchyard_e2e::{Harness, Proxy, amqp_url, database_url, eventually};
use switchyard_ingress::webhooks::shared::{hex, hmac_sha256};
use switchyard_ingress::webhooks::{standard, stripe, zoom};
use switchyard_telemetry::Metrics;

const SOURCES: &str = r#"
[[sources]]
name = "stripe"
kind = "stripe"
secrets = ["whsec_current", "whsec_previous"]

[[sources]]
name = "stripe"
tenant = "lincoln-high"
kind = "stripe"
secrets = ["whsec_lincoln"]

[[sources]]
name = "zoom"
kind = "zoom"
secrets = ["zoom-secret"]

[[sources]]
name = "graph"
kind = "graph"
secrets = ["graph-state"]

[[sources]]
name = "github"
kind = "hmac"
secrets = ["hub-secret"]

[[sources]]
name = "lms"
kind = "standard"
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
"#;

struct World {
    h: Harness,
    gateway: Gateway,
    events: Tap,
    http: reqwest::Client,
}

impl World {
    async fn start(extra_sources: &str) -> World {
        Self::start_on(Harness::start().await, extra_sources).await
    }

    async fn start_on(h: Harness, extra_sources: &str) -> World {
        let gateway = Gateway::start(&h, &format!("{SOURCES}{extra_sources}")).await;
        let broker = Broker::connect(&amqp_url(), h.topology(), "test-events", Metrics::new())
            .await
            .expect("broker");
        let events = Tap::bind(&h, &broker, "webhook-events", "*.event").await;
        World {
            h,
            gateway,
            events,
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, path: &str, headers: &[(&str, String)], body: &[u8]) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}{path}", self.gateway.url))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.send().await.expect("gateway answers")
    }

    async fn finish(self) {
        self.events.delete().await;
        self.gateway.stop();
        self.h.finish().await;
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// `body` with one byte changed.
fn altered(body: &[u8]) -> Vec<u8> {
    let mut copy = body.to_vec();
    let last = copy.len() - 2;
    copy[last] ^= 0x01;
    copy
}

async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.expect("problem json")
}

fn stripe_event(id: &str) -> Vec<u8> {
    format!(r#"{{"id":"{id}","object":"event","type":"payment_intent.succeeded","data":{{"object":{{"amount":2000}}}}}}"#)
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn stripe_event_is_published_once_with_its_event_id() {
    let w = World::start("").await;
    let id = unique("evt");
    let body = stripe_event(&id);
    let signed = [(
        "stripe-signature",
        stripe::sign("whsec_current", now(), &body),
    )];
    assert_eq!(
        w.post("/webhooks/stripe", &signed, &body).await.status(),
        200
    );
    // Stripe retries what it thinks failed: the same event again is 2xx and not published.
    assert_eq!(
        w.post("/webhooks/stripe", &signed, &body).await.status(),
        200
    );
    let published = w.events.settle().await;
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0]["id"], id.as_str());
    assert_eq!(published[0]["type"], "stripe.event");
    assert_eq!(
        published[0]["payload"]["event_type"],
        "payment_intent.succeeded"
    );
    assert_eq!(
        published[0]["payload"]["event"]["data"]["object"]["amount"],
        2000
    );
    assert_eq!(w.gateway.count("stripe", "accepted"), 1.0);
    assert_eq!(w.gateway.count("stripe", "duplicate"), 1.0);
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stripe_refuses_altered_stale_and_unknown_and_takes_a_rotated_secret() {
    let w = World::start("").await;
    let body = stripe_event(&unique("evt"));
    let header = |secret, at| [("stripe-signature", stripe::sign(secret, at, &body))];

    let forged = w
        .post(
            "/webhooks/stripe",
            &header("whsec_current", now()),
            &altered(&body),
        )
        .await;
    assert_eq!(problem(forged, 401).await["title"], "Invalid signature");
    let stale = w
        .post(
            "/webhooks/stripe",
            &header("whsec_current", now() - 301),
            &body,
        )
        .await;
    let stale = problem(stale, 401).await;
    assert!(
        stale["detail"].as_str().unwrap().contains("300 s"),
        "{stale}"
    );
    let unsigned = w.post("/webhooks/stripe", &[], &body).await;
    problem(unsigned, 401).await;
    let stranger = w
        .post("/webhooks/stripe", &header("whsec_unknown", now()), &body)
        .await;
    problem(stranger, 401).await;
    // Per tenant: the tenant's secret, not the default source's.
    let other_tenant = w
        .post(
            "/webhooks/stripe/lincoln-high",
            &header("whsec_current", now()),
            &body,
        )
        .await;
    problem(other_tenant, 401).await;
    problem(
        w.post("/webhooks/nobody", &header("whsec_current", now()), &body)
            .await,
        404,
    )
    .await;
    problem(
        w.post("/webhooks/stripe/unknown-school", &[], &body).await,
        404,
    )
    .await;
    assert!(
        w.events.settle().await.is_empty(),
        "nothing refused is published"
    );

    // During a secret roll Stripe signs with the previous secret too.
    let rotated = w
        .post("/webhooks/stripe", &header("whsec_previous", now()), &body)
        .await;
    assert_eq!(rotated.status(), 200);
    let tenant_body = stripe_event(&unique("evt"));
    let tenant_header = [(
        "stripe-signature",
        stripe::sign("whsec_lincoln", now(), &tenant_body),
    )];
    let tenant = w
        .post(
            "/webhooks/stripe/lincoln-high",
            &tenant_header,
            &tenant_body,
        )
        .await;
    assert_eq!(tenant.status(), 200);
    let published = w.events.settle().await;
    assert_eq!(published.len(), 2);
    assert_eq!(published[1]["tenant"], "lincoln-high");
    assert_eq!(published[1]["payload"]["source"], "stripe/lincoln-high");

    assert_eq!(w.gateway.count("stripe", "bad_signature"), 4.0);
    assert_eq!(w.gateway.count("stripe", "stale"), 1.0);
    assert_eq!(w.gateway.count("unknown", "unknown_source"), 2.0);
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_body_is_413() {
    let w = World::start("").await;
    let body = vec![b' '; 128 * 1024]; // the harness's limit is 64 KiB
    let response = w
        .post(
            "/webhooks/stripe",
            &[("stripe-signature", "t=1,v1=00".into())],
            &body,
        )
        .await;
    problem(response, 413).await;
    w.finish().await;
}

fn zoom_headers(body: &[u8], at: i64) -> [(&'static str, String); 2] {
    let (timestamp, signature) = zoom::sign("zoom-secret", at, body);
    [
        ("x-zm-request-timestamp", timestamp),
        ("x-zm-signature", signature),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn zoom_events_are_verified_and_url_validation_is_answered() {
    let w = World::start("").await;
    let body = format!(
        r#"{{"event":"recording.completed","event_ts":{},"payload":{{"object":{{"id":7}}}}}}"#,
        now()
    )
    .into_bytes();
    assert_eq!(
        w.post("/webhooks/zoom", &zoom_headers(&body, now()), &body)
            .await
            .status(),
        200
    );
    problem(
        w.post(
            "/webhooks/zoom",
            &zoom_headers(&body, now()),
            &altered(&body),
        )
        .await,
        401,
    )
    .await;
    problem(
        w.post("/webhooks/zoom", &zoom_headers(&body, now() - 301), &body)
            .await,
        401,
    )
    .await;

    let challenge = br#"{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680}"#;
    let answer = w
        .post("/webhooks/zoom", &zoom_headers(challenge, now()), challenge)
        .await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    let expected = hex(&hmac_sha256(b"zoom-secret", &[b"qgg8vlvZRS6UYooatFL8Aw"]));
    assert_eq!(
        answer,
        json!({"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected})
    );

    let published = w.events.settle().await;
    assert_eq!(
        published.len(),
        1,
        "the challenge is not published: {published:?}"
    );
    assert_eq!(published[0]["type"], "zoom.event");
    assert_eq!(w.gateway.count("zoom", "handshake"), 1.0);
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn graph_validation_is_echoed_and_client_state_is_checked() {
    let w = World::start("").await;
    let echo = w
        .post(
            "/webhooks/graph?validationToken=Validation%3A%20Testing%20client",
            &[],
            b"",
        )
        .await;
    assert_eq!(echo.status(), 200);
    assert!(
        echo.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(echo.text().await.unwrap(), "Validation: Testing client");

    let item = |state: &str| {
        json!({"subscriptionId": uuid::Uuid::new_v4().to_string(), "changeType": "created",
               "resource": "Users/ada/Messages/AAMk", "clientState": state,
               "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95"})
    };
    let good = serde_json::to_vec(&json!({"value": [item("graph-state")]})).unwrap();
    assert_eq!(w.post("/webhooks/graph", &[], &good).await.status(), 202);
    let wrong =
        serde_json::to_vec(&json!({"value": [item("graph-state"), item("a-guess")]})).unwrap();
    problem(w.post("/webhooks/graph", &[], &wrong).await, 401).await;

    let published = w.events.settle().await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["type"], "graph.event");
    assert!(
        published[0]["payload"]["event"]
            .get("clientState")
            .is_none(),
        "the secret stays here"
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn generic_hmac_source_is_verified() {
    // GitHub-style HMAC signs no timestamp: replays are caught as duplicates of the delivery id.
    let w = World::start("").await;
    let body = br#"{"action":"opened","number":7}"#;
    let delivery = uuid::Uuid::new_v4().to_string();
    let signature = format!("sha256={}", hex(&hmac_sha256(b"hub-secret", &[body])));
    let headers = [
        ("x-hub-signature-256", signature),
        ("x-github-delivery", delivery.clone()),
        ("x-github-event", "pull_request".to_owned()),
    ];
    assert_eq!(
        w.post("/webhooks/github", &headers, body).await.status(),
        200
    );
    assert_eq!(
        w.post("/webhooks/github", &headers, body).await.status(),
        200
    );
    problem(
        w.post("/webhooks/github", &headers, &altered(body)).await,
        401,
    )
    .await;
    let published = w.events.settle().await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["id"], delivery.as_str());
    assert_eq!(published[0]["type"], "webhook.event");
    assert_eq!(published[0]["payload"]["event_type"], "pull_request");
    w.finish().await;
}

fn standard_headers(id: &str, at: i64, body: &[u8]) -> [(&'static str, String); 3] {
    let key = standard::decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    standard::sign(&key, id, at, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn standard_webhooks_source_is_verified() {
    let w = World::start("").await;
    let body = br#"{"type":"grade.posted","data":{"student":"s-42"}}"#;
    let id = unique("msg");
    assert_eq!(
        w.post("/webhooks/lms", &standard_headers(&id, now(), body), body)
            .await
            .status(),
        200
    );
    problem(
        w.post(
            "/webhooks/lms",
            &standard_headers(&id, now(), body),
            &altered(body),
        )
        .await,
        401,
    )
    .await;
    problem(
        w.post(
            "/webhooks/lms",
            &standard_headers(&id, now() - 301, body),
            body,
        )
        .await,
        401,
    )
    .await;
    let published = w.events.settle().await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["id"], id.as_str());
    assert_eq!(published[0]["payload"]["event_type"], "grade.posted");
    w.finish().await;
}

/// A stand-in for PayPal's API: a token endpoint, and verify-webhook-signature answering
/// SUCCESS only for the transmission signature "genuine" over the event bytes it was given.
async fn fake_paypal(genuine: Vec<u8>) -> SocketAddr {
    let genuine = Arc::new(Mutex::new(genuine));
    let app = Router::new()
        .route(
            "/v1/oauth2/token",
            post(|| async { axum::Json(json!({"access_token": "A21", "expires_in": 3600})) }),
        )
        .route(
            "/v1/notifications/verify-webhook-signature",
            post(
                |State(genuine): State<Arc<Mutex<Vec<u8>>>>, body: Bytes| async move {
                    let text = String::from_utf8_lossy(&body).into_owned();
                    let event = text
                        .split_once("\"webhook_event\":")
                        .map(|(_, e)| &e[..e.len() - 1]);
                    let ok = event.map(str::as_bytes) == Some(&genuine.lock().unwrap()[..])
                        && text.contains("\"transmission_sig\":\"genuine\"")
                        && text.contains("\"webhook_id\":\"WH-TEST\"");
                    axum::Json(
                        json!({"verification_status": if ok { "SUCCESS" } else { "FAILURE" }}),
                    )
                },
            ),
        )
        .with_state(genuine);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn paypal_is_verified_through_its_api() {
    let id = unique("WH");
    let body = format!(r#"{{"id":"{id}","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{{"id":"42311647XV020574X"}}}}"#)
        .into_bytes();
    let api = fake_paypal(body.clone()).await;
    let source = format!(
        "\n[[sources]]\nname = \"paypal\"\nkind = \"paypal\"\napi_base = \"http://{api}\"\n\
         client_id = \"c\"\nclient_secret = \"s\"\nwebhook_id = \"WH-TEST\"\n"
    );
    let w = World::start(&source).await;
    let headers = |at: chrono::DateTime<chrono::Utc>| {
        [
            ("paypal-auth-algo", "SHA256withRSA".to_owned()),
            (
                "paypal-cert-url",
                "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1".to_owned(),
            ),
            ("paypal-transmission-id", uuid::Uuid::new_v4().to_string()),
            ("paypal-transmission-sig", "genuine".to_owned()),
            ("paypal-transmission-time", at.to_rfc3339()),
        ]
    };
    let fresh = chrono::Utc::now();
    assert_eq!(
        w.post("/webhooks/paypal", &headers(fresh), &body)
            .await
            .status(),
        200
    );
    problem(
        w.post("/webhooks/paypal", &headers(fresh), &altered(&body))
            .await,
        401,
    )
    .await;
    let stale = fresh - chrono::Duration::seconds(301);
    problem(
        w.post("/webhooks/paypal", &headers(stale), &body).await,
        401,
    )
    .await;
    let published = w.events.settle().await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["id"], id.as_str());
    assert_eq!(published[0]["type"], "paypal.event");
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn broker_outage_is_503_and_the_retry_is_published_once() {
    let proxy = Proxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let via_proxy = format!("amqp://guest:guest@{}/%2f", proxy.addr());
    let w = World::start_on(
        Harness::start_with(&via_proxy, &database_url(), "").await,
        "",
    )
    .await;
    let id = unique("evt");
    let body = stripe_event(&id);
    let signed = || {
        [(
            "stripe-signature",
            stripe::sign("whsec_current", now(), &body),
        )]
    };

    proxy.cut().await;
    for _ in 0..3 {
        let response = w.post("/webhooks/stripe", &signed(), &body).await;
        assert_eq!(problem(response, 503).await["status"], 503);
    }
    proxy.restore();
    // Stripe's retry: accepted as soon as the broker is back (the failed claims were released,
    // not left to block it for their lease).
    eventually(Duration::from_secs(20), "the retry is accepted", || async {
        w.post("/webhooks/stripe", &signed(), &body).await.status() == 200
    })
    .await;
    assert_eq!(
        w.post("/webhooks/stripe", &signed(), &body).await.status(),
        200
    );
    let published = w.events.settle().await;
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0]["id"], id.as_str());
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_consumer_bound_is_503_not_a_lost_event() {
    // zoom.event has no Switchyard consumer (stripe.event and paypal.event now go to the
    // payments worker): with no queue bound the gateway must not answer 2xx.
    let h = Harness::start().await;
    let gateway = Gateway::start(&h, SOURCES).await;
    let body = format!(
        r#"{{"event":"recording.completed","event_ts":{},"payload":{{"object":{{"uuid":"{}"}}}}}}"#,
        now(),
        unique("rec")
    )
    .into_bytes();
    let mut request = reqwest::Client::new().post(format!("{}/webhooks/zoom", gateway.url));
    for (name, value) in zoom_headers(&body, now()) {
        request = request.header(name, value);
    }
    let response = request.body(body).send().await.unwrap();
    let problem = problem(response, 503).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("zoom.event"),
        "{problem}"
    );
    gateway.stop();
    h.finish().await;
}
