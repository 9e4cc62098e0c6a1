//! The dead-letter workbench end to end: parked messages (worker-parked and broker-parked)
//! land in Postgres, group, replay at a limited rate exactly once, survive interruption,
//! edit-and-replay sends only the edited message, and every action is audited.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_admin::{AdminError, Workbench};
use switchyard_broker::{Broker, Publisher};
use switchyard_cli::components::Component;
use switchyard_e2e::{Harness, amqp_url, database_url, eventually, new_id};
use switchyard_sandbox::FaultConfig;
use switchyard_store::DeliveryStatus;
use switchyard_store::dead_letters::{DeadLetterFilter, DeadLetterStatus, PayloadCipher};
use switchyard_telemetry::Metrics;
use tokio_util::sync::CancellationToken;

async fn harness() -> Harness {
    let components = BTreeSet::from([Component::Ingress, Component::DeadLetters]);
    Harness::start_components(&amqp_url(), &database_url(), "", components).await
}

async fn workbench(h: &Harness) -> Workbench {
    let metrics = Metrics::new();
    let broker = Broker::connect(&amqp_url(), h.topology(), "test-workbench", metrics.clone())
        .await
        .unwrap();
    Workbench {
        store: h.store.clone(),
        publisher: Publisher::new(broker, Duration::from_secs(5)),
        cipher: Arc::new(PayloadCipher::parse(&h.settings.dlq_keys).unwrap()),
        metrics,
    }
}

/// Replays with a fresh cancellation token and no progress output.
async fn replay(
    w: &Workbench,
    filter: &DeadLetterFilter,
    per_second: u32,
    dry_run: bool,
) -> Result<switchyard_admin::ReplayReport, AdminError> {
    let rate = NonZeroU32::new(per_second).expect("a positive rate");
    w.replay(
        filter,
        rate,
        dry_run,
        "cli:test",
        &CancellationToken::new(),
        |_| {},
    )
    .await
}

/// Whether every sent message's delivery record has `status`.
async fn all_in(h: &Harness, sent: &[(String, String)], status: DeliveryStatus) -> bool {
    for (id, _) in sent {
        if h.status(id).await != Some(status) {
            return false;
        }
    }
    true
}

async fn successful_sends(h: &Harness, body: &str) -> usize {
    h.sandbox
        .requests()
        .iter()
        .filter(|r| r.status == 201 && r.form_value("Body") == Some(body))
        .count()
}

/// Parks `n` messages by making the sandbox refuse them (HTTP 400), each body tagged with
/// the namespace so filters can find this test's records.
async fn park(h: &Harness, n: usize) -> Vec<(String, String)> {
    h.sandbox.set_faults(FaultConfig {
        next_statuses: vec![400; n],
        ..Default::default()
    });
    let mut sent = Vec::new();
    for i in 0..n {
        let (id, body) = (new_id(), format!("{} report card {i}", h.namespace));
        assert_eq!(h.send_sms(&id, "+15005550006", &body).await.status(), 202);
        sent.push((id, body));
    }
    sent
}

async fn parked_count(h: &Harness, filter: &DeadLetterFilter) -> i64 {
    h.store.count_dead_letters(filter).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn hundred_failures_group_and_replay_at_the_rate_exactly_once_with_audit() {
    let h = harness().await;
    let worker = h.start_worker().await;
    let sent = park(&h, 100).await;
    let filter = DeadLetterFilter {
        tenant: Some(h.namespace.clone()),
        error_code: Some("provider_rejected".into()),
        ..Default::default()
    };
    eventually(
        Duration::from_secs(30),
        "100 parked and ingested",
        || async {
            all_in(&h, &sent, DeliveryStatus::Parked).await
                && h.depth(&worker.broker, "sms.dead").await == 0
        },
    )
    .await;
    let ingested = switchyard_e2e::sample(
        &h.running.metrics_registry,
        "switchyard_dead_letters_ingested_total{integration=\"sms\"}",
    );
    assert_eq!(ingested, 100.0);
    let groups = h.store.dead_letter_groups(&filter).await.unwrap();
    assert_eq!(groups.len(), 1, "{groups:?}");
    let group = &groups[0];
    assert_eq!(group.count, 100);
    assert_eq!(group.error_code, "provider_rejected");

    let w = workbench(&h).await;
    let by_group = DeadLetterFilter {
        group_id: Some(group.group_id.clone()),
        tenant: Some(h.namespace.clone()),
        ..Default::default()
    };
    let dry = replay(&w, &by_group, 50, true).await.unwrap();
    assert_eq!(dry.matched, 100);
    for (_, body) in &sent {
        assert_eq!(
            successful_sends(&h, body).await,
            0,
            "the dry run sent nothing"
        );
    }

    h.sandbox.set_faults(FaultConfig::default()); // the cause is fixed
    let started = Instant::now();
    let report = replay(&w, &by_group, 50, false).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(report.replayed, report.matched);
    assert!(
        elapsed >= Duration::from_millis(1900),
        "100 replays at 50/s took only {elapsed:?}"
    );
    eventually(Duration::from_secs(30), "all 100 delivered", || async {
        all_in(&h, &sent, DeliveryStatus::Delivered).await
    })
    .await;
    for (_, body) in &sent {
        assert_eq!(
            successful_sends(&h, body).await,
            1,
            "{body} delivered exactly once"
        );
    }
    let replayed = DeadLetterFilter {
        status: Some(DeadLetterStatus::Replayed),
        ..by_group.clone()
    };
    assert_eq!(parked_count(&h, &replayed).await, 100);
    let audit = h.store.audit_list(200).await.unwrap();
    let entry = audit
        .iter()
        .find(|e| e.action == "dlq.replay" && e.target["filter"]["tenant"] == h.namespace.as_str())
        .expect("audited");
    assert_eq!(entry.count, 100);
    assert_eq!(entry.actor, "cli:test");
    assert_eq!(entry.target["rate_per_sec"], 50);
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_replay_leaves_each_record_replayed_or_parked() {
    let h = harness().await;
    let worker = h.start_worker().await;
    let sent = park(&h, 20).await;
    let filter = DeadLetterFilter {
        tenant: Some(h.namespace.clone()),
        ..Default::default()
    };
    eventually(Duration::from_secs(20), "20 ingested", || async {
        all_in(&h, &sent, DeliveryStatus::Parked).await
            && h.depth(&worker.broker, "sms.dead").await == 0
    })
    .await;
    h.sandbox.set_faults(FaultConfig::default());
    let w = workbench(&h).await;
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    // Ctrl-C once a few are through: deterministic, whatever the machine's speed.
    let interrupt = move |r: &switchyard_admin::ReplayReport| {
        if r.replayed >= 3 {
            stop.cancel();
        }
    };
    let report = w
        .replay(
            &filter,
            NonZeroU32::new(10).unwrap(),
            false,
            "cli:test",
            &cancel,
            interrupt,
        )
        .await
        .unwrap();
    assert!(report.interrupted, "{report:?}");
    assert_eq!(
        report.replayed, 3,
        "stopped right after the third: {report:?}"
    );
    let replayed_filter = DeadLetterFilter {
        status: Some(DeadLetterStatus::Replayed),
        ..filter.clone()
    };
    let replayed_ids: Vec<String> = h
        .store
        .list_dead_letters(&replayed_filter, 1000, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.message_id)
        .collect();
    assert_eq!(
        parked_count(&h, &filter).await as usize + replayed_ids.len(),
        20,
        "every record is parked or replayed"
    );
    let replayed = replayed_ids.len();
    for (id, body) in &sent {
        if replayed_ids.contains(id) {
            eventually(Duration::from_secs(10), "replayed ⇒ delivered", || async {
                h.status(id).await == Some(DeliveryStatus::Delivered)
            })
            .await;
            assert_eq!(
                successful_sends(&h, body).await,
                1,
                "{id}: replayed ⇒ sent once"
            );
        } else {
            assert_eq!(
                h.status(id).await,
                Some(DeliveryStatus::Parked),
                "{id}: still parked"
            );
            assert_eq!(
                successful_sends(&h, body).await,
                0,
                "{id}: still parked ⇒ not sent"
            );
        }
    }
    assert!(
        (1..20).contains(&replayed),
        "interrupted midway: {replayed} replayed"
    );
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn edit_and_replay_sends_only_the_edited_message_and_keeps_the_diff() {
    let h = harness().await;
    let worker = h.start_worker().await;
    let id = new_id();
    let body = format!("{} wrong number", h.namespace);
    // Twilio's magic "invalid number": parked as permanent.
    assert_eq!(h.send_sms(&id, "+15005550001", &body).await.status(), 202);
    let filter = DeadLetterFilter {
        tenant: Some(h.namespace.clone()),
        ..Default::default()
    };
    let find = || async {
        let items = h.store.list_dead_letters(&filter, 1000, 0).await.unwrap();
        items.iter().find(|r| r.message_id == id).map(|r| r.id)
    };
    eventually(Duration::from_secs(15), "ingested", || async {
        find().await.is_some()
    })
    .await;
    let record_id = find().await.unwrap();
    let w = workbench(&h).await;

    let broken = w
        .edit_and_replay(
            record_id,
            json!({ "to": "not a number", "body": body }),
            "cli:test",
        )
        .await
        .unwrap_err();
    match broken {
        AdminError::Invalid(fields) => assert_eq!(fields[0].pointer, "/payload/to"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    let report = w
        .edit_and_replay(
            record_id,
            json!({ "to": "+15005550006", "body": body }),
            "cli:test",
        )
        .await
        .unwrap();
    assert_eq!(report.changed, vec!["/payload/to"]);
    eventually(
        Duration::from_secs(10),
        "edited message delivered",
        || async { h.status(&report.new_message_id).await == Some(DeliveryStatus::Delivered) },
    )
    .await;
    let sends: Vec<String> = h
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.status == 201 && r.form_value("Body") == Some(body.as_str()))
        .map(|r| r.form_value("To").unwrap().to_owned())
        .collect();
    assert_eq!(
        sends,
        vec!["+15005550006"],
        "only the edited message was sent"
    );
    let stored = h.store.dead_letter(record_id).await.unwrap().unwrap();
    assert_eq!(stored.status, DeadLetterStatus::Resolved);
    assert_eq!(
        stored.edit_diff.as_ref().unwrap()["changed"],
        json!(["/payload/to"])
    );
    assert!(matches!(
        w.edit_and_replay(
            record_id,
            json!({ "to": "+15005550006", "body": "x" }),
            "cli:test"
        )
        .await,
        Err(AdminError::NotParked(_) | AdminError::Store(_))
    ));
    let again = w
        .replay(
            &DeadLetterFilter {
                ids: vec![record_id],
                ..Default::default()
            },
            NonZeroU32::new(5).unwrap(),
            false,
            "cli:test",
            &CancellationToken::new(),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(again.replayed, 0, "a resolved original is never sent");
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_rabbitmq_dead_letters_for_its_delivery_limit_is_listed_with_the_reason() {
    // The harness queue has x-delivery-limit 20: past it, RabbitMQ parks the message itself.
    let h = Harness::start_components(
        &amqp_url(),
        &database_url(),
        "",
        BTreeSet::from([Component::Ingress, Component::DeadLetters]),
    )
    .await;
    let id = new_id();
    assert_eq!(
        h.send_sms(&id, "+15005550006", "poison").await.status(),
        202
    );
    // A "worker" that crashes on it: takes it and gives it back, again and again.
    let broker = Broker::connect(&amqp_url(), h.topology(), "crashing-worker", Metrics::new())
        .await
        .unwrap();
    let channel = broker.channel().await.unwrap();
    let queue = format!("{}.sms", h.namespace);
    for _ in 0..30 {
        match channel
            .basic_get(
                queue.as_str().into(),
                lapin::options::BasicGetOptions::default(),
            )
            .await
            .unwrap()
        {
            Some(message) => {
                let requeue = lapin::options::BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                };
                message.delivery.nack(requeue).await.unwrap();
            }
            None => break,
        }
    }
    let filter = DeadLetterFilter {
        tenant: Some(h.namespace.clone()),
        ..Default::default()
    };
    eventually(
        Duration::from_secs(15),
        "dead-lettered by RabbitMQ and ingested",
        || async { parked_count(&h, &filter).await == 1 },
    )
    .await;
    let record = &h.store.list_dead_letters(&filter, 10, 0).await.unwrap()[0];
    assert_eq!(record.message_id, id);
    assert_eq!(record.error_code, "delivery_limit");
    assert!(
        record.reason.contains("x-delivery-limit"),
        "{}",
        record.reason
    );
    let full = h.store.dead_letter(record.id).await.unwrap().unwrap();
    assert_eq!(full.headers["x-death"][0]["reason"], "delivery_limit");
    assert_eq!(full.worker.as_deref(), Some("rabbitmq"));
    broker.close().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_while_the_broker_is_down_changes_nothing() {
    let h = harness().await;
    let worker = h.start_worker().await;
    park(&h, 2).await;
    let filter = DeadLetterFilter {
        tenant: Some(h.namespace.clone()),
        ..Default::default()
    };
    eventually(Duration::from_secs(15), "parked", || async {
        parked_count(&h, &filter).await == 2
    })
    .await;
    let proxy = switchyard_e2e::Proxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let metrics = Metrics::new();
    let broker = Broker::connect(
        &format!("amqp://guest:guest@{}/%2f", proxy.addr()),
        h.topology(),
        "wb",
        metrics.clone(),
    )
    .await
    .unwrap();
    let w = Workbench {
        publisher: Publisher::new(broker, Duration::from_secs(2)),
        ..workbench(&h).await
    };
    proxy.cut().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let err = replay(&w, &filter, 10, false).await.unwrap_err();
    assert!(matches!(err, AdminError::BrokerDown), "{err:?}");
    assert!(err.to_string().contains("stay parked"));
    assert_eq!(parked_count(&h, &filter).await, 2, "still parked");
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_database_down_the_ingester_acks_nothing_and_resumes() {
    let proxy = switchyard_e2e::Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let via_proxy = format!("postgres://postgres@{}/test", proxy.addr());
    let h = Harness::start_components(
        &amqp_url(),
        &via_proxy,
        "",
        BTreeSet::from([Component::Ingress, Component::DeadLetters]),
    )
    .await;
    let worker = h.start_worker().await; // its own database connection, unaffected
    let filter = DeadLetterFilter {
        tenant: Some(h.namespace.clone()),
        ..Default::default()
    };
    proxy.cut().await;
    // The ingress checks keys in the same (cut) database: publish straight to the queue.
    let broker = Broker::connect(&amqp_url(), h.topology(), "test", Metrics::new())
        .await
        .unwrap();
    let id = new_id();
    let envelope = json!({ "id": id, "type": "sms.send", "tenant": h.namespace, "occurred_at": chrono::Utc::now(), "payload": { "to": "+15005550001", "body": "db down" } });
    let publisher = Publisher::new(broker.clone(), Duration::from_secs(5));
    let props = switchyard_broker::properties::for_envelope(&id, "sms.send", None);
    publisher
        .publish(
            &h.topology().main_exchange(),
            "sms.send",
            envelope.to_string().as_bytes(),
            props,
            true,
        )
        .await
        .unwrap();
    let dead = format!("{}.sms.dead", h.namespace);
    eventually(Duration::from_secs(10), "parked in RabbitMQ", || async {
        broker.queue_depth(&dead).await.unwrap() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        broker.queue_depth(&dead).await.unwrap(),
        1,
        "not acknowledged while the database is down"
    );
    assert_eq!(parked_count(&h, &filter).await, 0);

    proxy.restore();
    eventually(
        Duration::from_secs(20),
        "ingested once the database is back",
        || async { parked_count(&h, &filter).await == 1 },
    )
    .await;
    eventually(Duration::from_secs(5), "acknowledged", || async {
        broker.queue_depth(&dead).await.unwrap() == 0
    })
    .await;
    broker.close().await;
    worker.stop().await;
    h.finish().await;
}

/// `switchyard_dead_letters_parked` is published for every integration of the topology, 0 when
/// nothing of it is parked: an integration absent from the database's counts (never parked, or
/// emptied by a replay or a purge) must not keep an old value or vanish from dashboards.
#[tokio::test(flavor = "multi_thread")]
async fn the_parked_gauge_is_zero_for_an_integration_with_nothing_parked() {
    // A queue name no other test parks under (integration names are not namespaced in
    // Postgres), so its count can only come from the topology.
    let integration = format!("gauge{}", &new_id().replace('-', "")[..12]);
    let toml = format!("[queues.{integration}]\nrouting_keys = [\"{integration}.run\"]\n");
    let components = BTreeSet::from([Component::DeadLetters]);
    let h = Harness::start_components(&amqp_url(), &database_url(), &toml, components).await;
    let series = format!("switchyard_dead_letters_parked{{integration=\"{integration}\"}} 0");
    eventually(Duration::from_secs(15), "the gauge published", || async {
        h.running
            .metrics_registry
            .encode()
            .lines()
            .any(|l| l == series)
    })
    .await;
    h.finish().await;
}
