//! Push end to end: HTTP → RabbitMQ → push worker → FCM / APNs (sandbox) → delivery record;
//! retries, parking, the breaker, token invalidation and the provider credentials' caching.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_e2e::push::{finished, start};
use switchyard_e2e::{Harness, WorkerHandle, drain_queue, eventually, new_id, sample};
use switchyard_sandbox::{FaultConfig, Outage};
use switchyard_store::DeliveryStatus;

const IOS: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// Posts `payload` as a new push.send (202 expected) and returns its id.
async fn post(h: &Harness, key: &str, payload: Value) -> String {
    let id = new_id();
    let response = h.send_push(key, &id, payload).await;
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
    id
}

async fn wait_sent(h: &Harness, id: &str) {
    eventually(Duration::from_secs(10), "push recorded as sent", || async {
        h.push_status(id).await == Some(DeliveryStatus::Sent)
    })
    .await;
}

/// Waits for `count` parked messages and returns their error codes.
async fn parked_codes(h: &Harness, worker: &WorkerHandle, count: usize) -> Vec<String> {
    eventually(Duration::from_secs(10), "messages parked", || async {
        h.depth(&worker.broker, "push.dead").await as usize >= count
    })
    .await;
    let queue = format!("{}.push.dead", h.namespace);
    drain_queue(&worker.broker, &queue)
        .await
        .iter()
        .map(|p| p.header("x-switchyard-error-code").unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_platform_delivers() {
    let (h, key) = start().await;
    let worker = h.start_push_worker().await;
    let android = post(&h, &key, json!({"token": "android-token-1", "platform": "android", "title": "Fees", "body": "Trip fee due Friday", "data": {"invoice": "7"}, "collapse_key": "fees", "ttl_seconds": 600})).await;
    let web = post(&h, &key, json!({"token": "web-token-1", "platform": "web", "body": "Timetable changed", "priority": "normal"})).await;
    let ios = post(&h, &key, json!({"token": IOS, "platform": "ios", "template": "absence_alert", "vars": {"student": "Ada", "date": "2026-11-30"}, "badge": 1, "sound": "default"})).await;
    for id in [&android, &web, &ios] {
        wait_sent(&h, id).await;
    }
    let requests = h.push_requests();
    let fcm = requests
        .iter()
        .find(|r| {
            r.json
                .as_ref()
                .is_some_and(|j| j["message"]["token"] == "android-token-1")
        })
        .expect("the android push reached FCM");
    let message = &fcm.json.as_ref().unwrap()["message"];
    assert_eq!(message["notification"]["body"], "Trip fee due Friday");
    assert_eq!(message["data"]["invoice"], "7");
    assert_eq!(message["android"]["ttl"], "600s");
    let record = h.store.delivery("push", &android).await.unwrap().unwrap();
    assert_eq!(record.provider_ref, fcm.message_sid);

    let apns = requests
        .iter()
        .find(|r| r.path == format!("/3/device/{IOS}"))
        .expect("the ios push reached APNs");
    let aps = &apns.json.as_ref().unwrap()["aps"];
    assert_eq!(aps["alert"]["title"], "Absence: Ada");
    assert_eq!(aps["alert"]["body"], "Ada was marked absent on 2026-11-30.");
    assert_eq!(aps["badge"], 1);
    assert_eq!(apns.header("apns-push-type"), Some("alert"));
    assert_eq!(apns.header("apns-id"), Some(ios.as_str()));
    // Counted after the delivery record is written: wait for it.
    eventually(
        Duration::from_secs(5),
        "three successes counted",
        || async { finished(&worker.metrics, "succeeded") == 3.0 },
    )
    .await;
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_503_is_retried_and_delivered() {
    let (h, key) = start().await;
    let worker = h.start_push_worker().await;
    for (token, platform) in [("android-token-2", "android"), (IOS, "ios")] {
        h.sandbox.set_faults(FaultConfig {
            next_statuses: vec![503],
            ..FaultConfig::default()
        });
        let id = post(
            &h,
            &key,
            json!({"token": token, "platform": platform, "body": "retry me"}),
        )
        .await;
        wait_sent(&h, &id).await;
        // The attempt log is written after the delivery record.
        eventually(
            Duration::from_secs(5),
            "retried, then succeeded",
            || async {
                let attempts = h.store.attempts(&id).await.unwrap();
                let outcomes: Vec<&str> = attempts.iter().map(|a| a.outcome.as_str()).collect();
                outcomes == ["retried", "succeeded"]
            },
        )
        .await;
    }
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn permanent_errors_park_after_one_attempt() {
    let (h, key) = start().await;
    let worker = h.start_push_worker().await;
    // Unique tokens: a BadDeviceToken is remembered in the (shared) test database.
    let (android, ios) = (
        format!("invalid-{}", new_id()),
        format!("invalid-{}", new_id()),
    );
    post(
        &h,
        &key,
        json!({"token": android, "platform": "android", "body": "x"}),
    )
    .await;
    post(
        &h,
        &key,
        json!({"token": ios, "platform": "ios", "body": "x"}),
    )
    .await;
    let mut codes = parked_codes(&h, &worker, 2).await;
    codes.sort();
    assert_eq!(codes, ["bad_device_token", "invalid_argument"]);
    assert_eq!(h.push_requests().len(), 2, "one attempt each");
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_opens_the_breaker_and_recovery_delivers_everything() {
    const STATE: &str = "switchyard_circuit_breaker_state{integration=\"push\"}";
    const ACTIVE: &str = "switchyard_consumer_active{integration=\"push\"}";
    let (h, key) = start().await;
    let worker = h.start_push_worker().await;
    h.sandbox.set_faults(FaultConfig {
        outage: Some(Outage {
            status: 503,
            seconds: None,
        }),
        ..FaultConfig::default()
    });
    let mut ids = Vec::new();
    for i in 0..6 {
        let platform = if i % 2 == 0 { "android" } else { "ios" };
        let token = if i % 2 == 0 { "android-outage" } else { IOS };
        ids.push(
            post(
                &h,
                &key,
                json!({"token": token, "platform": platform, "body": format!("outage {i}")}),
            )
            .await,
        );
    }
    eventually(
        Duration::from_secs(10),
        "breaker open, consumer stopped",
        || async {
            sample(&worker.metrics, STATE) == 2.0 && sample(&worker.metrics, ACTIVE) == 0.0
        },
    )
    .await;
    for i in 6..10 {
        ids.push(post(&h, &key, json!({"token": "android-outage", "platform": "android", "body": format!("outage {i}")})).await);
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        h.depth(&worker.broker, "push").await >= 4,
        "messages wait in RabbitMQ"
    );
    assert_eq!(
        h.depth(&worker.broker, "push.dead").await,
        0,
        "nothing parked"
    );

    h.sandbox.set_faults(FaultConfig::default());
    for id in &ids {
        wait_sent(&h, id).await;
    }
    assert_eq!(sample(&worker.metrics, STATE), 0.0);
    assert_eq!(h.depth(&worker.broker, "push.dead").await, 0);
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gone_token_is_announced_recorded_and_never_sent_to_again() {
    let (h, key) = start().await;
    let worker = h.start_push_worker().await;
    let events = h.bind_token_events(&worker.broker).await;
    let token = format!("unregistered-{}", new_id());
    let first = post(
        &h,
        &key,
        json!({"token": token, "platform": "android", "body": "x"}),
    )
    .await;
    assert_eq!(parked_codes(&h, &worker, 1).await, ["token_unregistered"]);
    assert!(
        h.store
            .is_push_token_invalid("android", &token)
            .await
            .unwrap()
    );

    let published = drain_queue(&worker.broker, &events).await;
    assert_eq!(published.len(), 1, "one push.token_invalidated event");
    let event: Value = serde_json::from_slice(&published[0].body).unwrap();
    assert_eq!(event["type"], "push.token_invalidated");
    assert_eq!(event["causation_id"], first.as_str());
    assert_eq!(event["tenant"], h.namespace.as_str());
    assert_eq!(
        event["payload"],
        json!({"token": token, "platform": "android", "provider": "fcm", "reason": "unregistered"})
    );
    switchyard_contract::catalogue::validate("push.token_invalidated", &event["payload"]).unwrap();

    let provider_calls = h.push_requests().len();
    post(
        &h,
        &key,
        json!({"token": token, "platform": "android", "body": "again"}),
    )
    .await;
    assert_eq!(parked_codes(&h, &worker, 1).await, ["token_invalidated"]);
    assert_eq!(
        h.push_requests().len(),
        provider_calls,
        "no provider call for a gone token"
    );
    assert!(
        drain_queue(&worker.broker, &events).await.is_empty(),
        "announced once"
    );

    // APNs 410 is the same story.
    let ios = format!("unregistered-{}", new_id());
    post(
        &h,
        &key,
        json!({"token": ios, "platform": "ios", "body": "x"}),
    )
    .await;
    assert_eq!(parked_codes(&h, &worker, 1).await, ["token_unregistered"]);
    assert!(h.store.is_push_token_invalid("ios", &ios).await.unwrap());
    assert_eq!(drain_queue(&worker.broker, &events).await.len(), 1);
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_provider_token_is_a_configuration_error_not_a_gone_device() {
    let (h, key) = start().await;
    let worker = h.start_push_worker().await;
    let events = h.bind_token_events(&worker.broker).await;
    // The first 403 is answered by signing a new provider token: delivered.
    h.sandbox.set_faults(FaultConfig {
        next_statuses: vec![403],
        ..FaultConfig::default()
    });
    let id = post(
        &h,
        &key,
        json!({"token": IOS, "platform": "ios", "body": "x"}),
    )
    .await;
    wait_sent(&h, &id).await;
    // Refused twice: parked as a configuration error, the device token untouched.
    h.sandbox.set_faults(FaultConfig {
        next_statuses: vec![403, 403],
        ..FaultConfig::default()
    });
    post(
        &h,
        &key,
        json!({"token": IOS, "platform": "ios", "body": "y"}),
    )
    .await;
    assert_eq!(
        parked_codes(&h, &worker, 1).await,
        ["apns_provider_token_rejected"]
    );
    assert!(!h.store.is_push_token_invalid("ios", IOS).await.unwrap());
    assert!(drain_queue(&worker.broker, &events).await.is_empty());
    let id = post(
        &h,
        &key,
        json!({"token": IOS, "platform": "ios", "body": "z"}),
    )
    .await;
    wait_sent(&h, &id).await;
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_oauth_token_serves_many_sends_and_a_revoked_one_is_replaced() {
    let (h, key) = start().await;
    let worker = h.start_push_worker().await;
    let token_requests = || {
        h.sandbox
            .requests()
            .iter()
            .filter(|r| r.path == "/token")
            .count()
    };
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            post(
                &h,
                &key,
                json!({"token": format!("android-token-{i}"), "platform": "android", "body": "x"}),
            )
            .await,
        );
    }
    for id in &ids {
        wait_sent(&h, id).await;
    }
    assert_eq!(token_requests(), 1, "one OAuth token for ten sends");

    h.sandbox.revoke_fcm_tokens();
    let id = post(
        &h,
        &key,
        json!({"token": "android-token-x", "platform": "android", "body": "x"}),
    )
    .await;
    wait_sent(&h, &id).await;
    assert_eq!(token_requests(), 2, "a refused token is replaced once");
    eventually(Duration::from_secs(5), "one attempt logged", || async {
        h.store.attempts(&id).await.unwrap().len() == 1
    })
    .await;
    assert_eq!(
        h.store.attempts(&id).await.unwrap()[0].outcome,
        "succeeded",
        "the 401 is handled inside the attempt"
    );
    worker.stop().await;
    h.finish().await;
}
