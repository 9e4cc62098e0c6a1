//! The observability contract: every metric that `deploy/prometheus/alerts.yml` and the Grafana
//! dashboard `deploy/grafana/switchyard.json` query is one a running Switchyard exposes, with
//! the labels they match on. A renamed metric or a typo in a rule would otherwise only show up
//! as an alert that never fires and an empty panel.
//!
//! Names are read from the rule and panel expressions with a small PromQL scanner (strings,
//! ranges, label blocks and grouping clauses skipped; a name followed by `(` is a function).
//! Each one must be a `switchyard_*` series served on `/metrics` by a test instance running
//! every component, a recording rule defined in `alerts.yml`, or a name listed in [`EXTERNAL`]
//! with the exporter it comes from — so a misspelled `switchyard_` name cannot pass as foreign.
//!
//! prometheus-client writes nothing, not even `# TYPE`, for a labelled family that has no
//! series yet (checked: a `switchyard run` that had taken a few messages showed 16 of 24). So
//! after real traffic the test creates one series in every family through the same typed
//! handles the components use; the names still come from the registry as served over HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use switchyard_cli::components::Component;
use switchyard_e2e::{Harness, amqp_url, database_url, eventually, new_id};
use switchyard_store::DeliveryStatus;
use switchyard_telemetry::Metrics;
use switchyard_telemetry::metrics::{
    ErrorLabels, OutcomeLabels, ProviderLabels, QueueLabel, RouteLabel, RouteLabels,
    SmsEncodingLabel, TransitionLabels, WebhookLabels,
};

/// Names the rules and panels may use that Switchyard does not export, and who exports them.
const EXTERNAL: &[(&str, &str)] = &[
    ("up", "Prometheus itself (scrape health of every target)"),
    ("pg_up", "postgres_exporter"),
    (
        "rabbitmq_connections",
        "RabbitMQ rabbitmq_prometheus plugin, /metrics",
    ),
    (
        "rabbitmq_consumers",
        "RabbitMQ rabbitmq_prometheus plugin, /metrics",
    ),
    (
        "rabbitmq_queue_messages_ready",
        "RabbitMQ rabbitmq_prometheus plugin, /metrics",
    ),
    (
        "rabbitmq_queue_messages_unacked",
        "RabbitMQ rabbitmq_prometheus plugin, /metrics",
    ),
    (
        "rabbitmq_alarms_memory_used_watermark",
        "RabbitMQ rabbitmq_prometheus plugin, /metrics",
    ),
    (
        "rabbitmq_alarms_free_disk_space_watermark",
        "RabbitMQ rabbitmq_prometheus plugin, /metrics",
    ),
    (
        "rabbitmq_detailed_queue_messages_ready",
        "RabbitMQ rabbitmq_prometheus plugin, /metrics/detailed?family=queue_coarse_metrics",
    ),
    (
        "rabbitmq_detailed_queue_messages_unacked",
        "RabbitMQ rabbitmq_prometheus plugin, /metrics/detailed?family=queue_coarse_metrics",
    ),
    (
        "rabbitmq_detailed_queue_consumers",
        "RabbitMQ rabbitmq_prometheus plugin, /metrics/detailed?family=queue_consumer_count",
    ),
];

/// Every queue besides the harness's `sms`, with test-speed policies.
const QUEUES: &str = "[queues.email]\nrouting_keys = [\"email.send\", \"email.bulk\"]\n\
    [queues.push]\nrouting_keys = [\"push.send\"]\n\
    [queues.payments]\nrouting_keys = [\"stripe.event\", \"paypal.event\"]\n\
    [queues.payment_commands]\nrouting_keys = [\"payments.checkout.create\", \"payments.refund\", \
    \"payments.subscription.create\", \"payments.subscription.cancel\"]\n";

/// One metric selector found in an expression.
#[derive(Debug, Clone, PartialEq)]
struct Reference {
    /// Metric (or recording rule) name.
    name: String,
    /// Label matchers: label name and, for `=`, the value.
    matchers: Vec<(String, Option<String>)>,
}

/// What a scrape exposes: sample name → label name → values seen.
type Exposition = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

#[tokio::test(flavor = "multi_thread")]
async fn alert_rules_and_dashboard_query_only_metrics_switchyard_exposes() {
    let every_component = BTreeSet::from([
        Component::Ingress,
        Component::Sms,
        Component::Push,
        Component::Email,
        Component::Payments,
        Component::DeadLetters,
        Component::Sandbox,
    ]);
    let h = Harness::start_components(&amqp_url(), &database_url(), QUEUES, every_component).await;
    let id = new_id();
    assert_eq!(
        h.send_sms(&id, "+15005550006", "contract").await.status(),
        202
    );
    eventually(Duration::from_secs(15), "the SMS delivered", || async {
        h.status(&id).await == Some(DeliveryStatus::Delivered)
    })
    .await;
    let before = scrape(&h).await;
    assert!(
        before.contains_key("switchyard_messages_finished_total"),
        "real traffic shows up"
    );
    touch_every_family(&h.running.metrics_registry);
    let exposed = parse_exposition(&scrape_text(&h).await);
    h.finish().await;

    let (rule_exprs, recorded) = rule_expressions(&read("deploy/prometheus/alerts.yml"));
    let panel_exprs = dashboard_expressions(&read("deploy/grafana/switchyard.json"));
    assert!(rule_exprs.len() >= 10, "rules found: {}", rule_exprs.len());
    assert!(
        panel_exprs.len() >= 20,
        "panel queries found: {}",
        panel_exprs.len()
    );
    let mut problems = Vec::new();
    let mut checked = BTreeSet::new();
    for (place, expr) in rule_exprs.iter().chain(&panel_exprs) {
        for reference in references(expr) {
            if let Err(why) = check(&reference, &exposed, &recorded) {
                problems.push(format!("{place}: {why}\n    in: {}", expr.trim()));
            }
            checked.insert(reference.name);
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    eprintln!(
        "observability contract: {} names checked: {checked:?}",
        checked.len()
    );
}

/// The checker itself: a typo, a wrong label, a missing bucket and an unlisted foreign name
/// are reported; the right names pass.
#[test]
fn the_checker_reports_misspelled_names_labels_and_buckets() {
    let exposed = parse_exposition(
        "# TYPE switchyard_messages_received_total counter\n\
         switchyard_messages_received_total{integration=\"sms\"} 1\n\
         # TYPE switchyard_end_to_end_latency_seconds histogram\n\
         switchyard_end_to_end_latency_seconds_bucket{integration=\"sms\",le=\"47.6837158203125\"} 1\n",
    );
    let recorded = BTreeSet::from(["integration:switchyard_x:ratio_rate5m".to_owned()]);
    let verdicts = |expr: &str| -> Vec<bool> {
        references(expr)
            .iter()
            .map(|r| check(r, &exposed, &recorded).is_ok())
            .collect()
    };
    let good = "sum by (integration) (rate(switchyard_messages_received_total{integration=~\"$integration\"}[5m])) \
                / on (integration) group_left () integration:switchyard_x:ratio_rate5m \
                and switchyard_end_to_end_latency_seconds_bucket{le=\"47.6837158203125\"} > 0.5 \
                or pg_up == 0";
    assert_eq!(verdicts(good), [true, true, true, true]);
    assert_eq!(
        verdicts("rate(switchyard_messages_recieved_total[5m])"),
        [false]
    );
    assert_eq!(
        verdicts("switchyard_messages_received_total{outcome=\"parked\"}"),
        [false]
    );
    assert_eq!(
        verdicts("switchyard_end_to_end_latency_seconds_bucket{le=\"60\"}"),
        [false]
    );
    assert_eq!(verdicts("rabbitmq_queue_mesages_ready"), [false]);
    assert_eq!(verdicts("integration:switchyard_y:ratio_rate5m"), [false]);
}

/// Whether `reference` names something that exists, or why not.
fn check(
    reference: &Reference,
    exposed: &Exposition,
    recorded: &BTreeSet<String>,
) -> Result<(), String> {
    let name = reference.name.as_str();
    if name.contains(':') {
        return match recorded.contains(name) {
            true => Ok(()),
            false => Err(format!("`{name}` is not a recording rule in alerts.yml")),
        };
    }
    if !name.starts_with("switchyard_") {
        return match EXTERNAL.iter().any(|(external, _)| *external == name) {
            true => Ok(()),
            false => Err(format!(
                "`{name}` is neither exposed by Switchyard nor listed in EXTERNAL (with its exporter)"
            )),
        };
    }
    let Some(labels) = exposed.get(name) else {
        return Err(format!(
            "`{name}` is not exposed by Switchyard (family `{}`)",
            family(name)
        ));
    };
    for (label, value) in &reference.matchers {
        let Some(values) = labels.get(label) else {
            return Err(format!(
                "`{name}` has no label `{label}` (it has: {:?})",
                labels.keys().collect::<Vec<_>>()
            ));
        };
        if let Some(value) = value
            .as_ref()
            .filter(|v| label == "le" && !values.contains(*v))
        {
            return Err(format!(
                "`{name}` has no bucket le=\"{value}\" (it has: {values:?})"
            ));
        }
    }
    Ok(())
}

/// The family a sample name belongs to (histogram suffixes stripped; counters keep `_total`,
/// as prometheus-client exposes them).
fn family(sample: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| sample.strip_suffix(suffix))
        .unwrap_or(sample)
}

/// Creates one series in every family, through the handles the components record with.
fn touch_every_family(m: &Metrics) {
    let integration = Metrics::integration("contract");
    let outcome = OutcomeLabels {
        integration: "contract".into(),
        outcome: "succeeded".into(),
    };
    let error = ErrorLabels {
        integration: "contract".into(),
        class: "retryable".into(),
        code: "contract".into(),
    };
    let webhook = WebhookLabels {
        provider: "contract".into(),
        result: "accepted".into(),
    };
    let _ = m.messages_received.get_or_create(&integration);
    let _ = m.messages_finished.get_or_create(&outcome);
    let _ = m.handler_duration.get_or_create(&integration);
    let _ = m.end_to_end_latency.get_or_create(&integration);
    let _ = m.errors.get_or_create(&error);
    let _ = m.provider_requests.get_or_create(&ProviderLabels {
        provider: "contract".into(),
        status_class: "2xx".into(),
    });
    let _ = m.breaker_state.get_or_create(&integration);
    let _ = m.breaker_transitions.get_or_create(&TransitionLabels {
        integration: "contract".into(),
        to: "closed".into(),
    });
    let _ = m.rate_limit_waits.get_or_create(&integration);
    let _ = m.consumer_active.get_or_create(&integration);
    let _ = m.queue_depth.get_or_create(&QueueLabel {
        queue: "contract".into(),
    });
    let _ = m.ingress_requests.get_or_create(&RouteLabels {
        route: "/contract".into(),
        status: "200".into(),
    });
    let _ = m.ingress_duration.get_or_create(&RouteLabel {
        route: "/contract".into(),
    });
    let _ = m.dead_letters_parked.get_or_create(&integration);
    let _ = m.dead_letters_ingested.get_or_create(&integration);
    let _ = m.dead_letters_replayed.get_or_create(&integration);
    let _ = m.sms_segments.get_or_create(&SmsEncodingLabel {
        encoding: "gsm7".into(),
    });
    let _ = m.webhooks.get_or_create(&webhook);
    let _ = m.payment_events.get_or_create(&webhook);
}

/// `GET /metrics` of the harness's process.
async fn scrape(h: &Harness) -> Exposition {
    parse_exposition(&scrape_text(h).await)
}

async fn scrape_text(h: &Harness) -> String {
    let response = h
        .http
        .get(format!("http://{}/metrics", h.running.metrics))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    response.text().await.expect("metrics body")
}

/// A file of the repository.
fn read(path: &str) -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()))
}

/// The `expr:` of every rule (labelled `alerts.yml:<line>`) and the names of the recording
/// rules. The file keeps an expression on one line or in an indented `|` block.
fn rule_expressions(yaml: &str) -> (Vec<(String, String)>, BTreeSet<String>) {
    let lines: Vec<&str> = yaml.lines().collect();
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut exprs = Vec::new();
    let mut recorded = BTreeSet::new();
    for (n, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        if let Some(name) = trimmed.strip_prefix("record:") {
            recorded.insert(name.trim().to_owned());
        }
        let Some(value) = trimmed.strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        let expr = if value.starts_with('|') || value.starts_with('>') {
            lines[n + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || indent(l) > indent(line))
                .copied()
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            value.to_owned()
        };
        exprs.push((format!("alerts.yml:{}", n + 1), expr));
    }
    (exprs, recorded)
}

/// The `expr` of every panel target (labelled with the panel title), rows included.
fn dashboard_expressions(json: &str) -> Vec<(String, String)> {
    fn walk(panels: &[Value], out: &mut Vec<(String, String)>) {
        for panel in panels {
            let title = panel["title"].as_str().unwrap_or("?");
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push((format!("switchyard.json panel {title:?}"), expr.to_owned()));
                }
            }
            walk(panel["panels"].as_array().map_or(&[], Vec::as_slice), out);
        }
    }
    let dashboard: Value = serde_json::from_str(json).expect("dashboard JSON");
    let mut out = Vec::new();
    walk(dashboard["panels"].as_array().expect("panels"), &mut out);
    out
}

/// PromQL words that are not metrics: operators, literals, and aggregations (which may be
/// followed by `by (…)` instead of `(`).
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "group_left",
    "group_right",
    "Inf",
    "NaN",
    "inf",
    "nan",
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
];
/// Modifiers whose parenthesised list holds label names, not expressions.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric selectors of a PromQL expression (Grafana variables allowed).
fn references(expr: &str) -> Vec<Reference> {
    let s: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(&s, i);
        } else if c == '[' {
            i = skip_to_close(&s, i, '[', ']');
        } else if c == '{' {
            // A selector without a name would escape the check: none is allowed.
            out.push(Reference {
                name: "<selector without a metric name>".into(),
                matchers: Vec::new(),
            });
            i = skip_to_close(&s, i, '{', '}');
        } else if c == '$'
            || c.is_ascii_digit()
            || (c == '.' && s.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            // A Grafana variable, a number or a duration.
            i += 1;
            while i < s.len() && (s[i].is_ascii_alphanumeric() || "._{}:".contains(s[i])) {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            i = identifier(&s, i, &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// Reads the identifier at `start`; pushes it when it is a metric name. Returns where to go on.
fn identifier(s: &[char], start: usize, out: &mut Vec<Reference>) -> usize {
    let mut i = start;
    while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == '_' || s[i] == ':') {
        i += 1;
    }
    let word: String = s[start..i].iter().collect();
    let mut next = i;
    while next < s.len() && s[next].is_whitespace() {
        next += 1;
    }
    let opens = |ch| s.get(next) == Some(&ch);
    if LABEL_LISTS.contains(&word.as_str()) && opens('(') {
        return skip_to_close(s, next, '(', ')');
    }
    if opens('(') || KEYWORDS.contains(&word.as_str()) {
        return i;
    }
    let mut matchers = Vec::new();
    if opens('{') {
        let end = skip_to_close(s, next, '{', '}');
        matchers = label_matchers(&s[next + 1..end - 1]);
        i = end;
    }
    out.push(Reference {
        name: word,
        matchers,
    });
    i
}

/// `a="x", b=~"y"` → `[(a, Some(x)), (b, None)]` (values kept for `=` only).
fn label_matchers(block: &[char]) -> Vec<(String, Option<String>)> {
    let text: String = block.iter().collect();
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(op_at) = rest.find(['=', '!']) {
        let label = rest[..op_at]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_owned();
        let after = &rest[op_at..];
        let op_len =
            if after.starts_with("=~") || after.starts_with("!=") || after.starts_with("!~") {
                2
            } else {
                1
            };
        let quoted = after[op_len..].trim_start();
        let Some(quote) = quoted.chars().next() else {
            break;
        };
        let body = &quoted[1..];
        let close = body.find(quote).unwrap_or(body.len());
        let value = (op_len == 1).then(|| body[..close].to_owned());
        out.push((label, value));
        rest = body.get(close + 1..).unwrap_or("");
    }
    out
}

/// Index just past the string literal starting at `start`.
fn skip_string(s: &[char], start: usize) -> usize {
    let quote = s[start];
    let mut i = start + 1;
    while i < s.len() && s[i] != quote {
        i += if s[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}

/// Index just past the bracket matching the `open` at `start` (strings inside skipped).
fn skip_to_close(s: &[char], start: usize, open: char, close: char) -> usize {
    let mut depth = 0;
    let mut i = start;
    while i < s.len() {
        match s[i] {
            '"' | '\'' | '`' => {
                i = skip_string(s, i);
                continue;
            }
            ch if ch == open => depth += 1,
            ch if ch == close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    s.len()
}

/// Sample name → label name → values, from the Prometheus text format.
fn parse_exposition(text: &str) -> Exposition {
    let mut out = Exposition::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = out.entry(line[..name_end].to_owned()).or_default();
        if line[name_end..].starts_with('{') {
            let block: Vec<char> = line[name_end + 1..line.rfind('}').unwrap_or(line.len())]
                .chars()
                .collect();
            for (label, value) in label_matchers(&block) {
                labels.entry(label).or_default().extend(value);
            }
        }
    }
    out
}
