//! Republishing a delivery elsewhere — to a retry tier, or to the parking queue — with
//! publisher confirms. The caller acks the original only after this returns `Ok`, so a crash
//! in between leaves a duplicate (absorbed by idempotency), never a loss.

use std::time::Duration;

use chrono::Utc;
use lapin::message::Delivery;
use lapin::types::AMQPValue;
use switchyard_broker::properties as props;
use switchyard_broker::{PublishError, Publisher, Topology};

use crate::incoming::{Incoming, next_headers};
use crate::processor::Failed;

/// Longest reason text kept in a parking header (AMQP headers are not a log).
const MAX_REASON: usize = 1024;

/// Retry and park publishing for one integration.
pub(crate) struct Rerouter {
    integration: &'static str,
    topology: Topology,
    publisher: Publisher,
}

impl Rerouter {
    pub(crate) fn new(integration: &'static str, topology: Topology, publisher: Publisher) -> Self {
        Self {
            integration,
            topology,
            publisher,
        }
    }

    /// Sends a copy with `attempt` to the retry tier `tier`; it returns to the work queue (and
    /// only to it) when the tier's TTL expires.
    pub(crate) async fn retry(
        &self,
        delivery: &Delivery,
        incoming: &Incoming,
        attempt: u32,
        tier: Duration,
    ) -> Result<(), PublishError> {
        let first = incoming
            .first_failure_at
            .clone()
            .unwrap_or_else(|| Utc::now().to_rfc3339());
        let headers = next_headers(
            delivery.properties.headers(),
            attempt,
            &first,
            &incoming.original_routing_key,
        );
        let properties = delivery
            .properties
            .clone()
            .with_headers(headers)
            .with_delivery_mode(2);
        let queue = self.topology.retry_queue(self.integration, tier);
        self.publisher
            .publish("", &queue, &delivery.data, properties, true)
            .await
    }

    /// Sends the original body to `<integration>.dead` with why, how and when it failed.
    pub(crate) async fn park(
        &self,
        delivery: &Delivery,
        incoming: &Incoming,
        failed: &Failed,
    ) -> Result<(), PublishError> {
        let first = incoming
            .first_failure_at
            .clone()
            .unwrap_or_else(|| Utc::now().to_rfc3339());
        let mut headers = next_headers(
            delivery.properties.headers(),
            incoming.attempt,
            &first,
            &incoming.original_routing_key,
        );
        let reason: String = failed.detail.chars().take(MAX_REASON).collect();
        headers.insert(props::REASON.into(), props::text(&reason));
        headers.insert(
            props::ERROR_CLASS.into(),
            props::text(failed.failure.class().as_str()),
        );
        headers.insert(props::ERROR_CODE.into(), props::text(failed.failure.code()));
        headers.insert(props::WORKER.into(), props::text(self.integration));
        headers.insert(
            "x-switchyard-attempts".into(),
            AMQPValue::LongInt(incoming.attempt as i32),
        );
        let properties = delivery
            .properties
            .clone()
            .with_headers(headers)
            .with_delivery_mode(2);
        let exchange = self.topology.dead_letter_exchange();
        let key = self.topology.work_queue(self.integration);
        self.publisher
            .publish(&exchange, &key, &delivery.data, properties, true)
            .await
    }
}
