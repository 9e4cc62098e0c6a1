//! RabbitMQ or Postgres going away: the ingress answers 503 with Retry-After (never 202), and
//! recovers by itself when the dependency returns, without a restart.

use std::net::SocketAddr;
use std::time::Duration;

use switchyard_e2e::{Harness, Proxy, amqp_url, database_url, eventually, new_id};
use switchyard_store::{DeliveryStatus, Role};

fn rabbitmq() -> SocketAddr {
    "127.0.0.1:5672".parse().unwrap()
}

fn postgres() -> SocketAddr {
    "127.0.0.1:5432".parse().unwrap()
}

async fn assert_503(response: reqwest::Response) {
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 503);
}

#[tokio::test(flavor = "multi_thread")]
async fn broker_outage_gives_503_and_publishing_resumes_without_restart() {
    let proxy = Proxy::start(rabbitmq()).await;
    let via_proxy = format!("amqp://guest:guest@{}/%2f", proxy.addr());
    let h = Harness::start_with(&via_proxy, &database_url(), "").await;
    let worker = h.start_worker().await; // directly on the broker, unaffected
    assert_eq!(
        h.send_sms(&new_id(), "+15005550006", "before")
            .await
            .status(),
        202
    );

    proxy.cut().await;
    for i in 0..10 {
        let response = h
            .send_sms(&new_id(), "+15005550006", &format!("during {i}"))
            .await;
        assert_503(response).await;
    }

    proxy.restore();
    let id = new_id();
    eventually(Duration::from_secs(20), "publishing resumes", || async {
        h.send_sms(&id, "+15005550006", "after").await.status() == 202
    })
    .await;
    eventually(Duration::from_secs(10), "delivered", || async {
        h.status(&id).await == Some(DeliveryStatus::Delivered)
    })
    .await;
    assert_eq!(h.sends_with_body("after"), 1);
    for i in 0..10 {
        assert_eq!(
            h.sends_with_body(&format!("during {i}")),
            0,
            "a 503 published nothing"
        );
    }
    assert!(
        switchyard_e2e::sample(
            &h.running.metrics_registry,
            "switchyard_broker_reconnects_total"
        ) >= 1.0
    );
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn database_outage_gives_503_to_unknown_keys_and_recovers() {
    let proxy = Proxy::start(postgres()).await;
    let via_proxy = format!("postgres://postgres@{}/test", proxy.addr());
    let h = Harness::start_with(&amqp_url(), &via_proxy, "").await;
    assert_eq!(
        h.send_sms(&new_id(), "+15005550006", "db before")
            .await
            .status(),
        202
    );
    // A key the ingress has not seen yet (so not in its short key cache).
    let scopes = ["sms.".to_owned()];
    let (_, fresh) = h
        .store
        .create_api_key(&format!("{}-fresh", h.namespace), Role::Publisher, &scopes)
        .await
        .unwrap();

    proxy.cut().await;
    let message = serde_json::json!({ "type": "sms.send", "payload": { "to": "+15005550006", "body": "db during" } });
    let url = format!("{}/v1/messages", h.ingress());
    let unknown = h
        .http
        .post(&url)
        .bearer_auth(&fresh)
        .json(&message)
        .send()
        .await
        .unwrap();
    assert_503(unknown).await;
    // A key authenticated seconds ago keeps publishing: the message is safe in RabbitMQ and
    // the database is not on the ingress's publishing path.
    assert_eq!(
        h.send_sms(&new_id(), "+15005550006", "db during, cached key")
            .await
            .status(),
        202
    );

    proxy.restore();
    eventually(
        Duration::from_secs(20),
        "accepting the new key again",
        || async {
            h.http
                .post(&url)
                .bearer_auth(&fresh)
                .json(&message)
                .send()
                .await
                .unwrap()
                .status()
                == 202
        },
    )
    .await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_broker_or_database_at_start_is_a_clear_error() {
    let h = Harness::start().await;
    // What `start` says when one dependency is unreachable: the URL (no password) and the
    // variable to fix.
    let start_error = |settings: switchyard_cli::settings::Settings| {
        let run = h.run.clone();
        async move {
            let set =
                std::collections::BTreeSet::from([switchyard_cli::components::Component::Ingress]);
            let token = tokio_util::sync::CancellationToken::new();
            let err = switchyard_cli::components::start(&set, &settings, &run, token)
                .await
                .err()
                .expect("start fails");
            format!("{err:#}")
        }
    };
    let mut settings = h.settings.clone();
    settings.amqp_url = "amqp://guest:secret@127.0.0.1:1/%2f".into();
    let text = start_error(settings).await;
    assert!(
        text.contains("127.0.0.1:1")
            && text.contains("SWITCHYARD_AMQP_URL")
            && !text.contains("secret"),
        "{text}"
    );

    let mut settings = h.settings.clone();
    settings.database_url = "postgres://postgres:secret@127.0.0.1:1/test".into();
    let text = start_error(settings).await;
    assert!(
        text.contains("127.0.0.1:1")
            && text.contains("SWITCHYARD_DATABASE_URL")
            && !text.contains("secret"),
        "{text}"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_resumes_consuming_after_losing_the_broker() {
    let proxy = Proxy::start(rabbitmq()).await;
    let h = Harness::start().await;
    let worker = h
        .start_worker_via(&format!("amqp://guest:guest@{}/%2f", proxy.addr()))
        .await;
    let first = new_id();
    assert_eq!(
        h.send_sms(&first, "+15005550006", "before the cut")
            .await
            .status(),
        202
    );
    eventually(Duration::from_secs(10), "first delivered", || async {
        h.status(&first).await == Some(DeliveryStatus::Delivered)
    })
    .await;

    proxy.cut().await;
    let during = new_id();
    assert_eq!(
        h.send_sms(&during, "+15005550006", "while the worker is cut off")
            .await
            .status(),
        202
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.sends_with_body("while the worker is cut off"), 0);
    proxy.restore();
    eventually(
        Duration::from_secs(20),
        "delivered after reconnecting",
        || async { h.status(&during).await == Some(DeliveryStatus::Delivered) },
    )
    .await;
    assert_eq!(h.sends_with_body("while the worker is cut off"), 1);
    assert!(switchyard_e2e::sample(&worker.metrics, "switchyard_broker_reconnects_total") >= 1.0);
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_without_its_database_holds_messages_until_it_returns() {
    let proxy = Proxy::start(postgres()).await;
    let h = Harness::start().await;
    let store =
        switchyard_store::Store::connect(&format!("postgres://postgres@{}/test", proxy.addr()), 4)
            .await
            .unwrap();
    let worker = h.start_worker_custom(&amqp_url(), store, &h.run).await;
    proxy.cut().await;
    let id = new_id();
    assert_eq!(
        h.send_sms(&id, "+15005550006", "database is down")
            .await
            .status(),
        202
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        h.sends_with_body("database is down"),
        0,
        "no side effect without an idempotency claim"
    );
    assert!(
        switchyard_e2e::sample(
            &worker.metrics,
            "switchyard_errors_total{integration=\"sms\",class=\"retryable\",code=\"store_unavailable\"}"
        ) >= 1.0
    );
    assert_eq!(h.depth(&worker.broker, "sms.dead").await, 0, "not parked");

    proxy.restore();
    eventually(
        Duration::from_secs(20),
        "delivered once the database is back",
        || async { h.status(&id).await == Some(DeliveryStatus::Delivered) },
    )
    .await;
    assert_eq!(h.sends_with_body("database is down"), 1);
    worker.stop().await;
    h.finish().await;
}
