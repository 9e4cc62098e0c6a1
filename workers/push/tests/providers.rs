//! The FCM and APNs clients against the provider sandbox: paths, credentials, token caching
//! and refresh, provider-token retries, error shapes.

use std::time::Duration;

use serde_json::json;
use switchyard_contract::{Classify, DeliveryContext};
use switchyard_push::apns::DEFAULT_REFRESH;
use switchyard_push::{
    Apns, ApnsConfig, Content, Fcm, FcmConfig, PushError, SendPush, ServiceAccount,
};
use switchyard_sandbox::{FaultConfig, SandboxConfig, SandboxHandle};
use switchyard_telemetry::Metrics;

async fn sandbox(token_ttl: Duration) -> SandboxHandle {
    let mut config = SandboxConfig::ephemeral();
    config.fcm.token_ttl = token_ttl;
    switchyard_sandbox::start(config).await.expect("sandbox")
}

fn fcm(sandbox: &SandboxHandle) -> Fcm {
    let config = FcmConfig {
        base_url: sandbox.base_url(),
        service_account: ServiceAccount::from_json(sandbox.fcm_service_account()).unwrap(),
        token_uri: Some(sandbox.fcm_token_uri()),
    };
    let client = switchyard_runtime::http::client(Duration::from_secs(5));
    Fcm::new(config, client, Metrics::new()).unwrap()
}

fn apns(sandbox: &SandboxHandle) -> Apns {
    let a = sandbox.apns();
    let config = ApnsConfig {
        base_url: sandbox.base_url(),
        key_pem: a.key_pem.clone(),
        key_id: a.key_id.clone(),
        team_id: a.team_id.clone(),
        topic: a.topic.clone(),
        token_refresh: DEFAULT_REFRESH,
    };
    Apns::new(config, Duration::from_secs(5), Metrics::new()).unwrap()
}

fn push(token: &str, platform: &str) -> SendPush {
    serde_json::from_value(json!({"token": token, "platform": platform})).unwrap()
}

fn content() -> Content {
    Content {
        title: Some("Absence".into()),
        body: Some("Ada is absent".into()),
    }
}

fn ctx() -> DeliveryContext {
    DeliveryContext {
        message_id: "0193b8f0-5c4a-7c3e-9f1e-2a4b6c8d0e1f".into(),
        message_type: "push.send".into(),
        tenant: None,
        attempt: 1,
        correlation_id: None,
        idempotency_key: "k".into(),
    }
}

fn count(sandbox: &SandboxHandle, suffix: &str) -> usize {
    sandbox
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(suffix))
        .count()
}

#[tokio::test]
async fn fcm_sends_with_one_cached_token_and_refreshes_it_when_expired() {
    // 62 s tokens are replaced 60 s early: cached for 2 s.
    let sandbox = sandbox(Duration::from_secs(62)).await;
    let fcm = fcm(&sandbox);
    for _ in 0..5 {
        let name = fcm
            .send(&push("device-token-1", "android"), &content())
            .await
            .unwrap();
        assert!(
            name.starts_with("projects/switchyard-sandbox/messages/"),
            "{name}"
        );
    }
    assert_eq!(count(&sandbox, "/token"), 1, "one token for many sends");
    let send = sandbox
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with(":send"))
        .unwrap();
    let json = send.json.unwrap();
    assert_eq!(json["message"]["token"], "device-token-1");
    assert_eq!(json["message"]["notification"]["title"], "Absence");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    fcm.send(&push("device-token-1", "web"), &content())
        .await
        .unwrap();
    assert_eq!(count(&sandbox, "/token"), 2, "refreshed once expired");
    sandbox.shutdown();
}

#[tokio::test]
async fn fcm_refreshes_a_refused_token_once_then_gives_up_as_configuration_error() {
    let sandbox = sandbox(Duration::from_secs(3600)).await;
    let fcm = fcm(&sandbox);
    fcm.send(&push("device-token-1", "android"), &content())
        .await
        .unwrap();
    sandbox.revoke_fcm_tokens();
    fcm.send(&push("device-token-1", "android"), &content())
        .await
        .unwrap();
    assert_eq!(count(&sandbox, "/token"), 2);

    sandbox.set_faults(FaultConfig {
        next_statuses: vec![401, 401],
        ..FaultConfig::default()
    });
    let err = fcm
        .send(&push("device-token-1", "android"), &content())
        .await
        .unwrap_err();
    assert!(matches!(err, PushError::FcmUnauthenticated), "{err}");
    assert_eq!(err.classify().code(), "fcm_auth_failed");
    sandbox.shutdown();
}

#[tokio::test]
async fn fcm_errors_carry_the_error_code() {
    let sandbox = sandbox(Duration::from_secs(3600)).await;
    let fcm = fcm(&sandbox);
    let gone = fcm
        .send(&push("unregistered-1", "android"), &content())
        .await
        .unwrap_err();
    assert_eq!(gone.classify().code(), "token_unregistered");
    assert_eq!(gone.token_gone(), Some("unregistered"));
    let bad = fcm
        .send(&push("invalid-1", "android"), &content())
        .await
        .unwrap_err();
    assert_eq!(bad.classify().code(), "invalid_argument");
    sandbox.set_faults(FaultConfig {
        next_statuses: vec![503],
        ..FaultConfig::default()
    });
    let down = fcm
        .send(&push("device-token-1", "android"), &content())
        .await
        .unwrap_err();
    assert_eq!(down.classify().code(), "provider_unavailable");
    fcm.probe().await.unwrap();
    sandbox.shutdown();
}

const DEVICE: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

#[tokio::test]
async fn apns_sends_over_h2c_with_apple_headers() {
    let sandbox = sandbox(Duration::from_secs(3600)).await;
    let apns = apns(&sandbox);
    let apns_id = apns
        .send(&push(DEVICE, "ios"), &content(), &ctx())
        .await
        .unwrap();
    assert_eq!(apns_id, ctx().message_id);
    let request = sandbox.requests().pop().unwrap();
    assert_eq!(request.path, format!("/3/device/{DEVICE}"));
    assert_eq!(request.status, 200);
    assert_eq!(request.header("apns-topic"), Some("org.switchyard.sandbox"));
    assert_eq!(request.header("apns-push-type"), Some("alert"));
    assert_eq!(request.header("apns-priority"), Some("10"));
    assert_eq!(
        request.json.unwrap()["aps"]["alert"]["body"],
        "Ada is absent"
    );
    sandbox.shutdown();
}

#[tokio::test]
async fn apns_provider_token_refusals_retry_once_and_never_blame_the_device() {
    let sandbox = sandbox(Duration::from_secs(3600)).await;
    let apns = apns(&sandbox);
    sandbox.set_faults(FaultConfig {
        next_statuses: vec![403],
        ..FaultConfig::default()
    });
    apns.send(&push(DEVICE, "ios"), &content(), &ctx())
        .await
        .unwrap();
    sandbox.set_faults(FaultConfig {
        next_statuses: vec![403, 403],
        ..FaultConfig::default()
    });
    let err = apns
        .send(&push(DEVICE, "ios"), &content(), &ctx())
        .await
        .unwrap_err();
    assert_eq!(err.classify().code(), "apns_provider_token_rejected");
    assert_eq!(err.token_gone(), None);

    let gone = apns
        .send(&push("unregistered-1", "ios"), &content(), &ctx())
        .await
        .unwrap_err();
    assert_eq!(gone.token_gone(), Some("unregistered"));
    let bad = apns
        .send(&push("invalid-1", "ios"), &content(), &ctx())
        .await
        .unwrap_err();
    assert_eq!(bad.token_gone(), Some("bad_device_token"));
    apns.probe().await.unwrap_err();
    sandbox.shutdown();
}

#[tokio::test]
async fn apns_refuses_http1_like_apple() {
    let sandbox = sandbox(Duration::from_secs(3600)).await;
    let response = reqwest::Client::new()
        .post(format!("{}/3/device/{DEVICE}", sandbox.base_url()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 505);
    sandbox.shutdown();
}
