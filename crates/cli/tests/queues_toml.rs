//! The shipped `queues.toml` and the workers this binary runs must match one to one.

use std::collections::BTreeSet;
use std::path::Path;

use switchyard_broker::QueuesConfig;
use switchyard_cli::components::WORKERS;

#[test]
fn every_worker_has_a_queue_and_every_queue_a_worker() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../queues.toml");
    let config = QueuesConfig::load(&path).expect("the shipped queues.toml is valid");
    let queues: BTreeSet<&str> = config.queues.keys().map(String::as_str).collect();
    let workers: BTreeSet<&str> = WORKERS.iter().copied().collect();
    assert_eq!(queues, workers, "queues.toml entries vs workers");
}

#[test]
fn every_catalogued_type_is_routed_to_its_integration_queue() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../queues.toml");
    let config = QueuesConfig::load(&path).unwrap();
    // Events Switchyard publishes for the ERP are bound by the ERP's own queues, not a worker's.
    let consumed = switchyard_contract::catalogue::types()
        .iter()
        .filter(|t| !t.is_outbound());
    // Exactly one worker queue per consumed type (`stripe.event` goes to `payments`, not to a
    // queue named after its prefix).
    for t in consumed {
        let bound: Vec<&String> = config
            .queues
            .iter()
            .filter(|(_, policy)| policy.routing_keys.iter().any(|k| k == t.name))
            .map(|(name, _)| name)
            .collect();
        assert_eq!(bound.len(), 1, "{} is bound to {bound:?}", t.name);
    }
}
