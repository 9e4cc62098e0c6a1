//! The admin API over HTTP: how demos and tests in other processes drive the sandbox.

mod common;

use common::{send_valid, status_json};
use serde_json::{Value, json};
use switchyard_sandbox::{FaultConfig, RateLimit};

#[tokio::test]
async fn put_faults_replaces_them_and_get_reads_them_back() {
    let sandbox = common::sandbox().await;
    let url = format!("{}/_sandbox/faults", sandbox.base_url());
    let client = common::client();
    let body = json!({"rate_limit": {"retry_after_secs": 3}, "final_status": "failed"});
    let put = client.put(&url).json(&body).send().await.expect("answer");
    assert_eq!(put.status(), 200);
    let expected = FaultConfig {
        rate_limit: Some(RateLimit {
            retry_after_secs: 3,
        }),
        final_status: Some("failed".into()),
        ..FaultConfig::default()
    };
    assert_eq!(sandbox.faults(), expected);
    let got: FaultConfig = client
        .get(&url)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert_eq!(got, expected);
    assert_eq!(send_valid(&sandbox, None).await.status(), 429);
}

#[tokio::test]
async fn put_faults_with_a_bad_field_is_400_problem_json_and_changes_nothing() {
    let sandbox = common::sandbox().await;
    sandbox.set_faults(FaultConfig {
        latency_ms: 1,
        ..FaultConfig::default()
    });
    let before = sandbox.faults();
    let url = format!("{}/_sandbox/faults", sandbox.base_url());
    let client = common::client();
    let cases = [
        (json!({"error_rate": 0.5, "latncy_ms": 10}), "latncy_ms"),
        (json!({"error_rate": 1.5}), "error_rate"),
        (json!({"outage": {"status": 200}}), "outage.status"),
    ];
    for (body, field) in cases {
        let response = client.put(&url).json(&body).send().await.expect("answer");
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.expect("problem body");
        assert_eq!(problem["status"], 400);
        assert!(problem["type"].is_string() && problem["title"].is_string());
        let detail = problem["detail"].as_str().expect("detail");
        assert!(detail.contains(field), "{detail} should name {field}");
        assert_eq!(sandbox.faults(), before, "a refused PUT changes nothing");
    }
}

#[tokio::test]
async fn requests_and_callbacks_are_listed_and_cleared_over_http() {
    let sandbox = common::sandbox().await;
    let receiver = common::Receiver::start(0).await;
    let (_, created) = status_json(send_valid(&sandbox, Some(&receiver.url)).await).await;
    common::eventually("two callbacks", || sandbox.callbacks().len() == 2).await;
    let base = sandbox.base_url();
    let client = common::client();
    let requests: Value = client
        .get(format!("{base}/_sandbox/requests"))
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert_eq!(requests[0]["message_sid"], created["sid"]);
    assert_eq!(requests[0]["status"], 201);
    assert_eq!(requests[0]["form"][0], json!(["To", common::TO]));
    let callbacks: Value = client
        .get(format!("{base}/_sandbox/callbacks"))
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert_eq!(callbacks[0]["status"], "sent");
    assert_eq!(callbacks[1]["status"], "delivered");
    let cleared = client
        .delete(format!("{base}/_sandbox/requests"))
        .send()
        .await
        .expect("answer");
    assert!(cleared.status().is_success());
    assert!(sandbox.requests().is_empty() && sandbox.callbacks().is_empty());
}

#[tokio::test]
async fn shutdown_stops_serving_and_is_idempotent() {
    let sandbox = common::sandbox().await;
    let health = format!("{}/healthz", sandbox.base_url());
    assert_eq!(reqwest::get(&health).await.expect("answer").status(), 200);
    sandbox.shutdown();
    sandbox.shutdown();
    tokio::time::timeout(std::time::Duration::from_secs(2), sandbox.stopped())
        .await
        .expect("stops promptly");
    assert!(
        reqwest::get(&health).await.is_err(),
        "nothing listens after shutdown"
    );
}
