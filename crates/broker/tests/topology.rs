//! Topology and publishing against the real local RabbitMQ. Each test uses its own namespace,
//! so tests run in parallel and never touch each other's queues.

use std::time::Duration;

use switchyard_broker::{Broker, BrokerError, PublishError, Publisher, QueuesConfig, Topology};
use switchyard_telemetry::Metrics;

fn amqp_url() -> String {
    std::env::var("SWITCHYARD_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn topology(namespace: &str, delivery_limit: u32) -> Topology {
    let text = format!(
        "namespace = \"{namespace}\"\n[queues.sms]\nrouting_keys = [\"sms.send\"]\n\
         delivery_limit = {delivery_limit}\nretry_tiers = [\"200ms\", \"1s\"]\n"
    );
    Topology::new(QueuesConfig::parse(&text).unwrap())
}

fn namespace() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn declare_is_idempotent_and_creates_every_queue() {
    let ns = namespace();
    let broker = Broker::connect(&amqp_url(), topology(&ns, 10), "test", Metrics::new())
        .await
        .unwrap();
    // A second declaration with the same arguments is a no-op, not an error.
    let again = Broker::connect(&amqp_url(), topology(&ns, 10), "test", Metrics::new()).await;
    assert!(again.is_ok(), "{:?}", again.err());
    for queue in broker.topology().all_queues() {
        assert_eq!(broker.queue_depth(&queue).await.unwrap(), 0, "{queue}");
    }
    assert_eq!(broker.topology().all_queues().len(), 4);
}

#[tokio::test]
async fn changed_queue_argument_is_a_clear_error() {
    let ns = namespace();
    Broker::connect(&amqp_url(), topology(&ns, 10), "test", Metrics::new())
        .await
        .unwrap();
    let err = Broker::connect(&amqp_url(), topology(&ns, 11), "test", Metrics::new())
        .await
        .err()
        .expect("a changed x-delivery-limit must be refused");
    match &err {
        BrokerError::Mismatch {
            queue, argument, ..
        } => {
            assert_eq!(queue, &format!("{ns}.sms"));
            assert_eq!(argument, "x-delivery-limit");
        }
        other => panic!("expected Mismatch, got {other:?}"),
    }
    assert!(
        err.to_string().contains("switchyard topology apply"),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_broker_names_the_url_without_password() {
    let err = Broker::connect(
        "amqp://guest:s3cret@127.0.0.1:1/%2f",
        topology(&namespace(), 10),
        "test",
        Metrics::new(),
    )
    .await
    .err()
    .expect("port 1 has no broker");
    let text = err.to_string();
    assert!(matches!(err, BrokerError::Unreachable { .. }), "{text}");
    assert!(
        text.contains("127.0.0.1:1") && !text.contains("s3cret"),
        "{text}"
    );
    assert!(text.contains("SWITCHYARD_AMQP_URL"), "{text}");
}

#[tokio::test]
async fn confirmed_publish_lands_and_unroutable_is_refused() {
    let ns = namespace();
    let broker = Broker::connect(&amqp_url(), topology(&ns, 10), "test", Metrics::new())
        .await
        .unwrap();
    let publisher = Publisher::new(broker.clone(), Duration::from_secs(5));
    let exchange = broker.topology().main_exchange();
    let props = switchyard_broker::properties::for_envelope("m1", "sms.send", None);
    publisher
        .publish(&exchange, "sms.send", b"{}", props.clone(), true)
        .await
        .unwrap();
    let err = publisher
        .publish(&exchange, "fax.send", b"{}", props, true)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PublishError::Unroutable(ref k) if k == "fax.send"),
        "{err:?}"
    );
    assert_eq!(broker.queue_depth(&format!("{ns}.sms")).await.unwrap(), 1);
    assert!(
        broker
            .metrics()
            .encode()
            .contains("switchyard_publish_confirm_duration_seconds_count 2")
    );
}
