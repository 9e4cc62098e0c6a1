//! Every bad request gets a clear `application/problem+json` answer naming what is wrong, and
//! publishes nothing.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use switchyard_broker::Broker;
use switchyard_e2e::{Harness, amqp_url};
use switchyard_store::Role;
use switchyard_telemetry::Metrics;

async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}

fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["pointer"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn sms(to: &str) -> Value {
    json!({ "type": "sms.send", "payload": { "to": to, "body": "hi" } })
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_wrong_type_missing_unknown_and_invalid_are_refused() {
    let h = Harness::start().await;
    let url = format!("{}/v1/messages", h.ingress());
    let post_raw = |body: &'static str, content_type: &'static str| {
        h.http
            .post(&url)
            .bearer_auth(&h.token)
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
    };
    problem(
        post_raw("{\"type\": ", "application/json").await.unwrap(),
        400,
    )
    .await;
    problem(
        post_raw("type=sms.send", "application/x-www-form-urlencoded")
            .await
            .unwrap(),
        415,
    )
    .await;

    let missing = problem(
        h.post("/v1/messages", &json!({ "type": "sms.send" })).await,
        422,
    )
    .await;
    assert_eq!(pointers(&missing), vec!["/payload"]);
    let extra = problem(
        h.post(
            "/v1/messages",
            &json!({ "type": "sms.send", "payload": {}, "prio": 1 }),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(pointers(&extra), vec!["/prio"]);
    let unknown = problem(
        h.post("/v1/messages", &json!({ "type": "sms.fax", "payload": {} }))
            .await,
        422,
    )
    .await;
    assert_eq!(pointers(&unknown), vec!["/type"]);
    let invalid = problem(
        h.post(
            "/v1/messages",
            &json!({ "type": "sms.send", "payload": { "to": "12", "body": "" } }),
        )
        .await,
        422,
    )
    .await;
    let p = pointers(&invalid);
    assert!(
        p.contains(&"/payload/to".to_owned()) && p.contains(&"/payload/body".to_owned()),
        "{p:?}"
    );
    let bad_id = problem(h.post("/v1/messages", &json!({ "id": "", "type": "sms.send", "payload": { "to": "+15005550006", "body": "x" } })).await, 422).await;
    assert_eq!(pointers(&bad_id), vec!["/id"]);

    let big = json!({ "type": "sms.send", "payload": { "to": "+15005550006", "body": "x".repeat(100_000) } });
    problem(h.post("/v1/messages", &big).await, 413).await;
    assert_nothing_published(&h).await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_invalid_revoked_and_unscoped_keys_are_refused() {
    let h = Harness::start().await;
    let url = format!("{}/v1/messages", h.ingress());
    let none = h
        .http
        .post(&url)
        .json(&sms("+15005550006"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"switchyard\""
    );
    problem(none, 401).await;
    let wrong = h
        .http
        .post(&url)
        .bearer_auth("sy_notakey")
        .json(&sms("+15005550006"))
        .send()
        .await
        .unwrap();
    problem(wrong, 401).await;
    let basic = h
        .http
        .post(&url)
        .header(AUTHORIZATION, "Basic Zm9vOmJhcg==")
        .json(&sms("+15005550006"))
        .send()
        .await
        .unwrap();
    problem(basic, 401).await;

    let (key, token) = h
        .store
        .create_api_key(
            &format!("{}-revoked", h.namespace),
            Role::Publisher,
            &["sms.".to_owned()],
        )
        .await
        .unwrap();
    assert!(h.store.revoke_api_key(key.id).await.unwrap());
    let revoked = h
        .http
        .post(&url)
        .bearer_auth(&token)
        .json(&sms("+15005550006"))
        .send()
        .await
        .unwrap();
    problem(revoked, 401).await;

    let (_, email_only) = h
        .store
        .create_api_key(
            &format!("{}-email", h.namespace),
            Role::Publisher,
            &["email.".to_owned()],
        )
        .await
        .unwrap();
    let unscoped = h
        .http
        .post(&url)
        .bearer_auth(&email_only)
        .json(&sms("+15005550006"))
        .send()
        .await
        .unwrap();
    let body = problem(unscoped, 403).await;
    assert!(
        body["detail"].as_str().unwrap().contains("sms.send"),
        "{body}"
    );
    assert_nothing_published(&h).await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_twilio_signatures_are_refused() {
    let h = Harness::start().await;
    let url = format!("{}/webhooks/twilio/status", h.ingress());
    let form = [("MessageSid", "SM0123"), ("MessageStatus", "delivered")];
    let unsigned = h.http.post(&url).form(&form).send().await.unwrap();
    problem(unsigned, 403).await;
    let params: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    let wrong_token = switchyard_contract::signature::twilio::sign("not-the-token", &url, &params);
    let forged = h
        .http
        .post(&url)
        .header("X-Twilio-Signature", wrong_token)
        .form(&form)
        .send()
        .await
        .unwrap();
    problem(forged, 403).await;
    // Signed for another URL (a callback replayed against a different endpoint).
    let other_url = switchyard_contract::signature::twilio::sign(
        switchyard_sandbox::DEFAULT_AUTH_TOKEN,
        "https://evil.example/hook",
        &params,
    );
    let replayed = h
        .http
        .post(&url)
        .header("X-Twilio-Signature", other_url)
        .form(&form)
        .send()
        .await
        .unwrap();
    problem(replayed, 403).await;
    // Correctly signed but tampered after signing.
    let good = switchyard_contract::signature::twilio::sign(
        switchyard_sandbox::DEFAULT_AUTH_TOKEN,
        &url,
        &params,
    );
    let tampered = [("MessageSid", "SM0123"), ("MessageStatus", "failed")];
    let response = h
        .http
        .post(&url)
        .header("X-Twilio-Signature", &good)
        .form(&tampered)
        .send()
        .await
        .unwrap();
    problem(response, 403).await;
    // Correctly signed, but its MessageSid cannot make a message id (found by fuzzing).
    let odd = [
        ("MessageSid", "SM01\u{7}23"),
        ("MessageStatus", "delivered"),
    ];
    let odd_params: Vec<(String, String)> = odd
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    let signed = switchyard_contract::signature::twilio::sign(
        switchyard_sandbox::DEFAULT_AUTH_TOKEN,
        &url,
        &odd_params,
    );
    let response = h
        .http
        .post(&url)
        .header("X-Twilio-Signature", signed)
        .form(&odd)
        .send()
        .await
        .unwrap();
    let body = problem(response, 422).await;
    assert_eq!(pointers(&body), ["/id"], "{body}");
    assert_nothing_published(&h).await;
    // The untampered request is accepted.
    let ok = h
        .http
        .post(&url)
        .header("X-Twilio-Signature", &good)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 204);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_reports_each_item_and_publishes_only_the_valid_ones() {
    let h = Harness::start().await;
    let batch = json!({ "messages": [sms("+15005550006"), sms("oops"), sms("+15005550006")] });
    let response = h.post("/v1/messages/batch", &batch).await;
    assert_eq!(response.status(), 207);
    let body: Value = response.json().await.unwrap();
    let statuses: Vec<u64> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![202, 422, 202]);
    assert_eq!(body["accepted"], 2);
    assert_eq!(
        body["results"][1]["problem"]["errors"][0]["pointer"],
        "/payload/to"
    );

    let too_many = json!({ "messages": vec![sms("+15005550006"); 501] });
    problem(h.post("/v1/messages/batch", &too_many).await, 422).await;

    let broker = Broker::connect(&amqp_url(), h.topology(), "test", Metrics::new())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        h.depth(&broker, "sms").await,
        2,
        "only the two valid items were published"
    );
    broker.close().await;
    h.finish().await;
}

async fn assert_nothing_published(h: &Harness) {
    let broker = Broker::connect(&amqp_url(), h.topology(), "test", Metrics::new())
        .await
        .unwrap();
    assert_eq!(
        h.depth(&broker, "sms").await,
        0,
        "a refused request published nothing"
    );
    broker.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_catalogued_type_no_queue_takes_is_unroutable() {
    let h = Harness::start().await;
    let broker = Broker::connect(&amqp_url(), h.topology(), "test", Metrics::new())
        .await
        .unwrap();
    let channel = broker.channel().await.unwrap();
    let (queue, exchange) = (format!("{}.sms", h.namespace), h.topology().main_exchange());
    channel
        .queue_unbind(
            queue.as_str().into(),
            exchange.as_str().into(),
            "sms.status".into(),
            Default::default(),
        )
        .await
        .unwrap();
    let status =
        json!({ "type": "sms.status", "payload": { "provider_ref": "SM1", "status": "sent" } });
    let body = problem(h.post("/v1/messages", &status).await, 422).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("no queue takes `sms.status`"),
        "{body}"
    );
    assert_eq!(pointers(&body), vec!["/type"]);
    broker.close().await;
    h.finish().await;
}
