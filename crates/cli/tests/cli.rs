//! The binary's own behaviour: help that teaches, and clear messages for bad input.

use std::process::Command;

fn switchyard(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env(
            "SWITCHYARD_QUEUES",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../queues.toml"),
        )
        .env(
            "SWITCHYARD_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/test",
        )
        .output()
        .expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn help_lists_every_command_and_the_environment() {
    let (ok, text) = switchyard(&["--help"]);
    assert!(ok);
    for word in [
        "run",
        "migrate",
        "topology",
        "keys",
        "sandbox",
        "SWITCHYARD_AMQP_URL",
        "SWITCHYARD_DATABASE_URL",
    ] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
    let (ok, text) = switchyard(&["run", "--help"]);
    assert!(
        ok && text.contains("SWITCHYARD_TWILIO_BASE_URL") && text.contains("SWITCHYARD_PUBLIC_URL"),
        "{text}"
    );
}

#[test]
fn topology_show_prints_every_queue_without_a_broker() {
    let (ok, text) = switchyard(&["--amqp-url", "amqp://127.0.0.1:1", "topology", "show"]);
    assert!(ok, "{text}");
    for queue in [
        "queue sms ",
        "sms.retry.1s",
        "sms.retry.30m",
        "parking sms.dead",
        "x-delivery-limit=20",
    ] {
        assert!(text.contains(queue), "missing {queue}:\n{text}");
    }
}

#[test]
fn unknown_component_and_bad_arguments_say_what_to_do() {
    let (ok, text) = switchyard(&["run", "fax"]);
    assert!(
        !ok && text.contains("unknown component `fax`")
            && text.contains("all, ingress, sms, push, email, payments, dead-letters, sandbox"),
        "{text}"
    );
    let (ok, text) = switchyard(&["keys", "revoke", "not-a-uuid"]);
    assert!(!ok && text.contains("keys list"), "{text}");
    let (ok, text) = switchyard(&[
        "keys", "create", "--name", "x", "--role", "root", "--scope", "sms.",
    ]);
    assert!(
        !ok && text.contains("publisher") && text.contains("admin"),
        "{text}"
    );
    let (ok, text) = switchyard(&["--queues", "/nonexistent.toml", "topology", "show"]);
    assert!(
        !ok && text.contains("/nonexistent.toml") && text.contains("SWITCHYARD_QUEUES"),
        "{text}"
    );
}

#[test]
fn unreachable_broker_at_start_names_the_url_and_the_fix() {
    let (ok, text) = switchyard(&[
        "--amqp-url",
        "amqp://guest:hunter2@127.0.0.1:1/%2f",
        "topology",
        "apply",
    ]);
    assert!(!ok);
    assert!(
        text.contains("127.0.0.1:1")
            && text.contains("rabbitmq-server")
            && !text.contains("hunter2"),
        "{text}"
    );
}

#[test]
fn keys_round_trip_create_list_revoke() {
    let name = format!("cli-test-{}", std::process::id());
    let (ok, text) = switchyard(&["keys", "create", "--name", &name, "--scope", "sms."]);
    assert!(ok, "{text}");
    assert!(text.contains("token (shown once"), "{text}");
    let id = text
        .split_whitespace()
        .nth(2)
        .expect("created key <id>")
        .to_owned();
    let token = text
        .split_whitespace()
        .last()
        .expect("the token")
        .to_owned();
    assert!(token.starts_with("sy_"), "{text}");
    let (ok, list) = switchyard(&["keys", "list"]);
    assert!(ok && list.contains(&id), "{list}");
    assert!(!list.contains(&token), "keys list never shows a token");
    let (ok, text) = switchyard(&["keys", "revoke", &id]);
    assert!(ok, "{text}");
    let (ok, text) = switchyard(&["keys", "revoke", &id]);
    assert!(!ok && text.contains("no active key"), "{text}");
}

#[test]
fn dlq_filters_that_match_nothing_say_so_and_succeed() {
    let tenant = format!("nobody-{}", std::process::id());
    for command in [
        &["dlq", "list", "--tenant", &tenant][..],
        &["dlq", "replay", "--tenant", &tenant],
        &["dlq", "purge", "--tenant", &tenant],
    ] {
        let (ok, text) = switchyard(command);
        assert!(ok && text.contains("0 messages"), "{command:?}: {text}");
    }
    let (ok, text) = switchyard(&["dlq", "groups", "--tenant", &tenant, "--json"]);
    assert!(ok && text.trim() == "[]", "{text}");
}

#[test]
fn dlq_bad_arguments_name_the_flag() {
    let (ok, text) = switchyard(&["dlq", "list", "--since", "yesterday"]);
    assert!(
        !ok && text.contains("--since") && text.contains("RFC 3339"),
        "{text}"
    );
    let (ok, text) = switchyard(&["dlq", "replay", "--rate", "fast"]);
    assert!(!ok && text.contains("50/s"), "{text}");
    let (ok, text) = switchyard(&["dlq", "show", "999999999"]);
    assert!(
        !ok && text.contains("no dead letter with id 999999999"),
        "{text}"
    );
    let (ok, text) = switchyard(&["audit", "list", "--limit", "1", "--json"]);
    assert!(ok && text.trim_start().starts_with('['), "{text}");
}

#[test]
fn bench_smoke_prints_the_table_and_writes_the_report() {
    let report = std::env::temp_dir().join(format!("bench-smoke-{}.json", std::process::id()));
    let (ok, text) = switchyard(&["bench", "--smoke", "--json", report.to_str().unwrap()]);
    assert!(ok, "{text}");
    for row in [
        "raw RabbitMQ publish + confirm (the limit)",
        "ingress POST /v1/messages",
        "end to end, half load",
        "of limit",
        "worker CPU",
        "RSS: worker",
    ] {
        assert!(text.contains(row), "missing {row}:\n{text}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let stages = json["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 6);
    assert!(
        stages.iter().all(|s| s["rate"].as_f64().unwrap() > 0.0),
        "{json}"
    );
    // The worker ran as a process of its own: its CPU and memory are measured apart.
    let end_to_end: Vec<_> = stages
        .iter()
        .filter(|s| s["name"].as_str().unwrap().starts_with("end to end"))
        .collect();
    assert_eq!(end_to_end.len(), 2, "{json}");
    assert!(
        end_to_end
            .iter()
            .all(|s| s["worker_cpu_s_per_10k"].as_f64().unwrap() > 0.0),
        "{json}"
    );
    let memory = &json["memory"];
    assert!(
        memory["worker_idle_rss_mib"].as_f64().unwrap() > 1.0,
        "{json}"
    );
    assert!(
        memory["worker_peak_rss_mib"].as_f64().unwrap()
            >= memory["worker_idle_rss_mib"].as_f64().unwrap(),
        "{json}"
    );
    let _ = std::fs::remove_file(report);
}

/// Kills the child if the test fails before it stopped it, so a failed run leaves no process
/// consuming queues behind.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The shipped queues.toml in a namespace of this test's own, so the worker it starts never
/// takes messages from the real `sms` queue of a Switchyard running on this machine.
fn isolated_queues() -> std::path::PathBuf {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../queues.toml")).unwrap();
    let text = shipped.replace("namespace = \"\"", "namespace = \"cli-sigterm-test\"");
    assert!(
        text.contains("cli-sigterm-test"),
        "queues.toml changed shape"
    );
    let path = std::env::temp_dir().join(format!("cli-sigterm-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn sigterm_stops_a_running_switchyard_cleanly() {
    use std::io::{BufRead, BufReader};
    let queues = isolated_queues();
    let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "run",
            "ingress",
            "sms",
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--sandbox-listen",
            "127.0.0.1:0",
        ])
        .env("SWITCHYARD_QUEUES", &queues)
        .env(
            "SWITCHYARD_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/test",
        )
        .env(
            "SWITCHYARD_TEMPLATES",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../templates"),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut child = Reap(child);
    let stdout = child.0.stdout.take().unwrap();
    let banner: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(4)
        .map(Result::unwrap)
        .collect();
    // stdout carries only the banner: logs go to stderr.
    let heads: Vec<String> = banner
        .iter()
        .map(|l| l.split("  ").next().unwrap_or_default().trim().to_owned())
        .collect();
    assert_eq!(
        heads,
        ["ingress", "sandbox", "sandbox smtp", "metrics"],
        "{banner:?}"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(exit) = child.0.try_wait().unwrap() {
            assert!(exit.success(), "exit status {exit}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(queues);
}
