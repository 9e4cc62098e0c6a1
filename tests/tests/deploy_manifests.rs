//! The Kubernetes manifests keep up with `queues.toml`: every integration has a Deployment
//! that runs its worker and a KEDA ScaledObject on its work queue, and the ConfigMap's copy of
//! `queues.toml` is the shipped one. Adding a queue without manifests fails here.
//!
//! The manifests are read as text (no YAML crate in the workspace): each file of
//! `deploy/k8s/base` is split into documents at `---`, and the few fields needed are found by
//! their keys, in the flow style the files use (`args: ["run", "sms"]`,
//! `scaleTargetRef: { name: switchyard-sms }`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use switchyard_broker::{QueuesConfig, Topology};
use switchyard_cli::components::{Component, WORKERS};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn base() -> PathBuf {
    repo().join("deploy/k8s/base")
}

/// The `switchyard run` component that runs `integration`'s worker. `run payments` starts two
/// workers (crates/cli/src/components.rs), every other worker has a component of its name.
fn component_for(integration: &str) -> &str {
    match integration {
        "payment_commands" => "payments",
        other => other,
    }
}

/// One YAML document of a manifest file, as text.
struct Doc {
    file: String,
    text: String,
}

impl Doc {
    fn kind(&self) -> Option<&str> {
        self.text.lines().find_map(|l| l.strip_prefix("kind: "))
    }

    /// `metadata.name`: the first `name:` indented by two spaces.
    fn name(&self) -> Option<&str> {
        self.text.lines().find_map(|l| l.strip_prefix("  name: "))
    }

    /// Values of `key: value` lines (any indentation; a trailing comment dropped).
    fn values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.text.lines().filter_map(move |line| {
            let rest = line.trim_start().strip_prefix(key)?.strip_prefix(": ")?;
            Some(rest.split(" #").next().unwrap_or(rest).trim())
        })
    }
}

/// The files `deploy/k8s/base/kustomization.yaml` lists under `resources:` (a file it does
/// not list is not deployed, so it does not count).
fn resource_files() -> Vec<String> {
    let kustomization = std::fs::read_to_string(base().join("kustomization.yaml"))
        .expect("deploy/k8s/base/kustomization.yaml is readable");
    kustomization
        .lines()
        .skip_while(|l| *l != "resources:")
        .skip(1)
        .map_while(|l| l.strip_prefix("  - "))
        .map(|f| f.trim().to_owned())
        .collect()
}

fn manifests() -> Vec<Doc> {
    let mut docs = Vec::new();
    for file in resource_files() {
        let text = std::fs::read_to_string(base().join(&file))
            .unwrap_or_else(|e| panic!("deploy/k8s/base/{file}: {e}"));
        docs.extend(text.split("\n---\n").map(|text| Doc {
            file: file.clone(),
            text: text.to_owned(),
        }));
    }
    docs
}

/// `["run", "sms", "sandbox"]` → `["run", "sms", "sandbox"]` as strings.
fn flow_list(text: &str) -> Vec<String> {
    let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
    inner
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Deployment name → the components its container runs (`args: ["run", …]`).
fn deployments(docs: &[Doc]) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for doc in docs.iter().filter(|d| d.kind() == Some("Deployment")) {
        let name = doc.name().expect("a Deployment has a name").to_owned();
        let run = doc
            .values("args")
            .map(flow_list)
            .find(|args| args.first().is_some_and(|a| a == "run"))
            .unwrap_or_else(|| panic!("{}: Deployment {name} runs no `run` args", doc.file));
        out.insert(name, run[1..].to_vec());
    }
    out
}

/// Work queue name → the Deployment its ScaledObject scales.
fn scaled_queues(docs: &[Doc]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for doc in docs.iter().filter(|d| d.kind() == Some("ScaledObject")) {
        let target = doc
            .values("scaleTargetRef")
            .find_map(|v| v.split("name:").nth(1))
            .map(|n| n.trim().trim_end_matches('}').trim().to_owned())
            .unwrap_or_else(|| panic!("{}: a ScaledObject without scaleTargetRef", doc.file));
        for queue in doc.values("queueName") {
            out.insert(queue.trim_matches('"').to_owned(), target.clone());
        }
    }
    out
}

#[test]
fn every_integration_has_a_deployment_running_it_and_a_scaled_object_on_its_queue() {
    let config = QueuesConfig::load(&repo().join("queues.toml")).expect("queues.toml loads");
    let topology = Topology::new(config);
    let docs = manifests();
    let deployments = deployments(&docs);
    let scaled = scaled_queues(&docs);
    let mut problems = Vec::new();
    for integration in topology.integrations() {
        let queue = topology.work_queue(integration);
        let component = component_for(integration);
        if !WORKERS.contains(&integration) {
            problems.push(format!("{integration}: no worker in the binary (WORKERS)"));
        }
        if let Err(e) = Component::from_str(component) {
            problems.push(format!("{integration}: `run {component}`: {e}"));
        }
        let Some(target) = scaled.get(&queue) else {
            problems.push(format!(
                "{integration}: no ScaledObject in deploy/k8s/base with a rabbitmq trigger on queue `{queue}`"
            ));
            continue;
        };
        match deployments.get(target) {
            None => problems.push(format!(
                "{integration}: its ScaledObject scales `{target}`, which is no Deployment in deploy/k8s/base"
            )),
            Some(runs) if !runs.iter().any(|c| c == component) => problems.push(format!(
                "{integration}: Deployment {target} runs `run {}`, not the `{component}` component that runs this worker",
                runs.join(" ")
            )),
            Some(_) => {}
        }
    }
    assert!(
        problems.is_empty(),
        "deploy/k8s/base is behind queues.toml:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn every_component_but_the_sandbox_has_a_deployment() {
    let runs: Vec<String> = deployments(&manifests()).into_values().flatten().collect();
    for component in [
        "ingress",
        "sms",
        "push",
        "email",
        "payments",
        "dead-letters",
    ] {
        assert!(
            runs.iter().any(|c| c == component),
            "no Deployment in deploy/k8s/base runs `run {component}`"
        );
    }
}

#[test]
fn the_configmap_copy_of_queues_toml_is_the_shipped_one() {
    let shipped = std::fs::read_to_string(repo().join("queues.toml")).unwrap();
    let copy = std::fs::read_to_string(base().join("queues.toml")).unwrap();
    assert!(
        shipped == copy,
        "deploy/k8s/base/queues.toml (the ConfigMap's; kustomize cannot read files above \
         deploy/k8s/base) differs from queues.toml: cp queues.toml deploy/k8s/base/queues.toml"
    );
}
