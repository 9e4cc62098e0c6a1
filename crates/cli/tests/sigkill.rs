//! `kill -9` of a real worker process mid-stream, then a restart: every message reaches the
//! provider exactly once. The sandbox runs in this test process (so it survives the kill); the
//! worker is the `switchyard` binary itself, `run sms`.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchyard_broker::{Broker, Publisher, QueuesConfig, Topology, properties};
use switchyard_sandbox::{FaultConfig, SandboxHandle};
use switchyard_telemetry::Metrics;

const MESSAGES: usize = 300;
const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The shipped topology in a throwaway namespace, with a short handler timeout so the claims
/// of the killed process expire (timeout + 5 s) within the test.
fn queues_file(namespace: &str) -> std::path::PathBuf {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../queues.toml")).unwrap();
    let text = shipped
        .replace("namespace = \"\"", &format!("namespace = \"{namespace}\""))
        .replace("handler_timeout = \"20s\"", "handler_timeout = \"2s\"");
    assert!(
        text.contains(namespace) && text.contains("\"2s\""),
        "queues.toml changed shape"
    );
    let path = std::env::temp_dir().join(format!("{namespace}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn worker(queues: &std::path::Path, sandbox: &SandboxHandle) -> Child {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["run", "sms", "--metrics-listen", "127.0.0.1:0"])
        .env("SWITCHYARD_QUEUES", queues)
        .env(
            "SWITCHYARD_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/test",
        )
        .env("SWITCHYARD_TWILIO_BASE_URL", sandbox.base_url())
        .env(
            "SWITCHYARD_TEMPLATES",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../templates"),
        )
        .env("SWITCHYARD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the worker starts")
}

fn sends(sandbox: &SandboxHandle, tag: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for r in sandbox.requests().iter().filter(|r| r.status == 201) {
        if let Some(body) = r.form_value("Body").filter(|b| b.starts_with(tag)) {
            *counts.entry(body.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_stream_then_restart_delivers_each_message_exactly_once() {
    let namespace = format!("k{}", uuid::Uuid::new_v4().simple());
    let queues = queues_file(&namespace);
    let topology = Topology::new(QueuesConfig::load(&queues).unwrap());
    let broker = Broker::connect(AMQP, topology.clone(), "sigkill-test", Metrics::new())
        .await
        .unwrap();
    let publisher = Publisher::new(broker.clone(), Duration::from_secs(5));
    let sandbox = switchyard_sandbox::start(switchyard_sandbox::SandboxConfig::ephemeral())
        .await
        .unwrap();
    sandbox.set_faults(FaultConfig {
        latency_ms: 20,
        ..Default::default()
    });
    let tag = format!("sigkill {namespace}");
    for i in 0..MESSAGES {
        let id = uuid::Uuid::now_v7().to_string();
        let envelope = serde_json::json!({ "id": id, "type": "sms.send", "occurred_at": chrono::Utc::now(),
            "payload": { "to": "+15005550006", "body": format!("{tag} {i}") } });
        let props = properties::for_envelope(&id, "sms.send", None);
        publisher
            .publish(
                &topology.main_exchange(),
                "sms.send",
                envelope.to_string().as_bytes(),
                props,
                true,
            )
            .await
            .unwrap();
    }

    let mut first = worker(&queues, &sandbox);
    wait_for("some sends", Duration::from_secs(60), || {
        sends(&sandbox, &tag).len() >= 50
    })
    .await;
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let at_kill = sends(&sandbox, &tag).len();
    assert!(
        at_kill < MESSAGES,
        "killed mid-stream ({at_kill} of {MESSAGES})"
    );

    let mut second = worker(&queues, &sandbox);
    wait_for("every message sent", Duration::from_secs(90), || {
        sends(&sandbox, &tag).len() == MESSAGES
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let counts = sends(&sandbox, &tag);
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "sigkill: sent {MESSAGES}, delivered {}, duplicated {}, killed after {at_kill}",
        counts.len(),
        repeated.len()
    );
    assert!(repeated.is_empty(), "sent more than once: {repeated:?}");
    assert_eq!(
        broker
            .queue_depth(&topology.parking_queue("sms"))
            .await
            .unwrap(),
        0,
        "nothing parked"
    );

    second.kill().unwrap();
    second.wait().unwrap();
    let channel = broker.channel().await.unwrap();
    for queue in topology.all_queues() {
        let _ = channel
            .queue_delete(queue.as_str().into(), Default::default())
            .await;
    }
    let _ = std::fs::remove_file(queues);
    broker.close().await;
}
