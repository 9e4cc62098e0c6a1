//! Fault injection: each fault answers provider requests as a failing provider would, and
//! a faulted send creates no message.

mod common;

use std::time::{Duration, Instant};

use common::{account_url, send_valid, status_json};
use switchyard_sandbox::{FaultConfig, Outage, RateLimit, SandboxHandle};

fn faults(edit: impl FnOnce(&mut FaultConfig)) -> FaultConfig {
    let mut faults = FaultConfig::default();
    edit(&mut faults);
    faults
}

async fn send_status(sandbox: &SandboxHandle) -> u16 {
    send_valid(sandbox, None).await.status().as_u16()
}

#[tokio::test]
async fn next_statuses_fail_the_next_requests_then_sending_works() {
    let sandbox = common::sandbox().await;
    sandbox.set_faults(faults(|f| f.next_statuses = vec![503, 503]));
    let (status, json) = status_json(send_valid(&sandbox, None).await).await;
    assert_eq!((status, json["code"].as_u64()), (503, Some(20503)));
    assert_eq!(json["message"], "Service Unavailable");
    assert_eq!(send_status(&sandbox).await, 503);
    assert_eq!(send_status(&sandbox).await, 201);
    assert!(sandbox.faults().next_statuses.is_empty());
    let statuses: Vec<u16> = sandbox.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 201]);
    let sids: Vec<bool> = sandbox
        .requests()
        .iter()
        .map(|r| r.message_sid.is_some())
        .collect();
    assert_eq!(
        sids,
        [false, false, true],
        "a faulted send creates no message"
    );
}

#[tokio::test]
async fn outage_with_seconds_ends_by_itself() {
    let sandbox = common::sandbox().await;
    sandbox.set_faults(faults(|f| {
        f.outage = Some(Outage {
            status: 503,
            seconds: Some(1),
        })
    }));
    assert_eq!(send_status(&sandbox).await, 503);
    assert_eq!(send_status(&sandbox).await, 503);
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(send_status(&sandbox).await, 201);
    assert_eq!(
        sandbox.faults().outage,
        None,
        "an ended outage is no longer reported"
    );
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let sandbox = common::sandbox().await;
    sandbox.set_faults(faults(|f| {
        f.rate_limit = Some(RateLimit {
            retry_after_secs: 7,
        })
    }));
    let response = send_valid(&sandbox, None).await;
    assert_eq!(response.headers()["retry-after"], "7");
    let (status, json) = status_json(response).await;
    assert_eq!((status, json["code"].as_u64()), (429, Some(20429)));
    assert_eq!(json["message"], "Too Many Requests");
}

#[tokio::test]
async fn error_rate_one_fails_every_request_with_500() {
    let sandbox = common::sandbox().await;
    sandbox.set_faults(faults(|f| f.error_rate = 1.0));
    for _ in 0..5 {
        let (status, json) = status_json(send_valid(&sandbox, None).await).await;
        assert_eq!((status, json["code"].as_u64()), (500, Some(20500)));
    }
    sandbox.set_faults(FaultConfig::default());
    assert_eq!(send_status(&sandbox).await, 201);
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let sandbox = common::sandbox().await;
    sandbox.set_faults(faults(|f| f.latency_ms = 200));
    let started = Instant::now();
    assert_eq!(send_status(&sandbox).await, 201);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn faults_come_after_auth_and_reach_the_account_probe_but_not_admin() {
    let sandbox = common::sandbox().await;
    sandbox.set_faults(faults(|f| {
        f.outage = Some(Outage {
            status: 503,
            seconds: None,
        })
    }));
    let client = common::client();
    let unauthenticated = client
        .get(account_url(&sandbox))
        .send()
        .await
        .expect("answer");
    assert_eq!(
        unauthenticated.status(),
        401,
        "auth is checked before faults"
    );
    let twilio = sandbox.twilio();
    let probe = client
        .get(account_url(&sandbox))
        .basic_auth(&twilio.account_sid, Some(&twilio.auth_token));
    assert_eq!(probe.send().await.expect("answer").status(), 503);
    let base = sandbox.base_url();
    let health = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("answer");
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.expect("body"), "ok");
    let admin = client
        .get(format!("{base}/_sandbox/requests"))
        .send()
        .await
        .expect("answer");
    assert_eq!(admin.status(), 200);
}

#[tokio::test]
async fn invalid_faults_are_refused_by_try_set_faults_and_start() {
    let sandbox = common::sandbox().await;
    let bad = faults(|f| f.error_rate = 1.5);
    let err = sandbox
        .try_set_faults(bad.clone())
        .expect_err("error_rate 1.5 is refused");
    assert_eq!(err.field, "error_rate");
    assert_eq!(sandbox.faults(), FaultConfig::default());
    let mut config = switchyard_sandbox::SandboxConfig::ephemeral();
    config.faults = bad;
    let err = switchyard_sandbox::start(config)
        .await
        .expect_err("invalid initial faults");
    assert!(err.to_string().contains("error_rate"), "{err}");
}
