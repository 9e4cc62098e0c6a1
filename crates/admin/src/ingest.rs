//! The dead-letter ingester (`switchyard run dead-letters`): consumes every `<integration>.dead`
//! queue and stores each message in Postgres — envelope (encrypted), headers, reason, class,
//! code, attempts, failure times — acknowledging only after the row is committed. With the
//! database down nothing is acknowledged: consuming pauses until it answers again. A copy
//! delivered twice (at-least-once) is stored once, by its dedupe key.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use sha2::{Digest, Sha256};
use switchyard_broker::{Broker, bounded};
use switchyard_contract::Envelope;
use switchyard_store::dead_letters::{NewDeadLetter, PayloadCipher};
use switchyard_store::{Store, StoreError};
use switchyard_telemetry::Metrics;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::headers;

/// How often the parked-count gauge is refreshed.
const GAUGE_INTERVAL: Duration = Duration::from_secs(10);

/// The ingester.
#[derive(Clone)]
pub struct Ingester {
    /// RabbitMQ.
    pub broker: Broker,
    /// Postgres.
    pub store: Store,
    /// Encrypts payloads at rest.
    pub cipher: Arc<PayloadCipher>,
    /// Metrics.
    pub metrics: Metrics,
}

impl Ingester {
    /// Ingests from every parking queue until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let topology = self.broker.topology().clone();
        let mut tasks = JoinSet::new();
        for integration in topology.integrations() {
            let (me, name, queue) = (
                self.clone(),
                integration.to_owned(),
                topology.parking_queue(integration),
            );
            tasks.spawn(me.consume_forever(name, queue, shutdown.clone()));
        }
        tasks.spawn(self.clone().refresh_gauge(shutdown.clone()));
        while tasks.join_next().await.is_some() {}
    }

    async fn consume_forever(
        self,
        integration: String,
        queue: String,
        shutdown: CancellationToken,
    ) {
        while !shutdown.is_cancelled() {
            if let Err(error) = self.consume(&integration, &queue, &shutdown).await {
                tracing::warn!(%error, %queue, "dead-letter ingestion paused; retrying");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            // Do not take messages we cannot store: wait for the database first.
            while self.store.ping().await.is_err() && !shutdown.is_cancelled() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    /// One subscription; returns when the connection drops, storing fails, or on shutdown.
    /// Unacknowledged messages go back to the queue when the channel closes.
    async fn consume(
        &self,
        integration: &str,
        queue: &str,
        shutdown: &CancellationToken,
    ) -> Result<(), String> {
        let channel = self.broker.channel().await.map_err(|e| e.to_string())?;
        let qos = channel.basic_qos(32, BasicQosOptions::default());
        bounded("setting prefetch", qos)
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let options = BasicConsumeOptions::default();
        let consume = channel.basic_consume(
            queue.into(),
            "dead-letter-ingester".into(),
            options,
            FieldTable::default(),
        );
        let mut consumer = bounded("subscribing", consume)
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let outcome = loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                next = consumer.next() => next,
            };
            let delivery = match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(e)) => break Err(e.to_string()),
                None => break Err("consumer ended".into()),
            };
            if let Err(error) = self.ingest(integration, queue, &delivery).await {
                break Err(format!("storing a dead letter failed: {error}"));
            }
            let _ = delivery.ack(BasicAckOptions::default()).await;
        };
        if channel.status().connected() {
            let _ = bounded(
                "closing a channel",
                channel.close(200, "ingester paused".into()),
            )
            .await;
        }
        outcome
    }

    async fn ingest(
        &self,
        integration: &str,
        queue: &str,
        delivery: &Delivery,
    ) -> Result<(), StoreError> {
        let record = to_record(integration, queue, delivery);
        let stored = self.store.insert_dead_letter(&record, &self.cipher).await?;
        if stored.is_some() {
            self.metrics
                .dead_letters_ingested
                .get_or_create(&Metrics::integration(integration))
                .inc();
        }
        tracing::info!(%integration, message_id = %record.message_id, code = %record.error_code, duplicate = stored.is_none(), "dead letter stored");
        Ok(())
    }

    async fn refresh_gauge(self, shutdown: CancellationToken) {
        loop {
            if let Ok(counts) = self.store.parked_counts().await {
                // An integration with nothing parked is absent from the counts: it is set to 0,
                // or its gauge would keep the last non-zero value after a purge or a replay.
                let topology = self.broker.topology();
                let mut every: std::collections::BTreeMap<String, i64> =
                    topology.integrations().map(|i| (i.to_owned(), 0)).collect();
                every.extend(counts);
                for (integration, count) in every {
                    self.metrics
                        .dead_letters_parked
                        .get_or_create(&Metrics::integration(&integration))
                        .set(count);
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(GAUGE_INTERVAL) => {}
            }
        }
    }
}

/// Reads a parked delivery into a row.
pub fn to_record(integration: &str, queue: &str, delivery: &Delivery) -> NewDeadLetter {
    let amqp_headers = delivery.properties.headers().clone().unwrap_or_default();
    let json = headers::to_json(&amqp_headers);
    let facts = headers::parking_facts(&amqp_headers, &json);
    let envelope: Option<Envelope> = serde_json::from_slice(&delivery.data).ok();
    let message_id = envelope
        .as_ref()
        .map(|e| e.id.clone())
        .or_else(|| {
            delivery
                .properties
                .message_id()
                .as_ref()
                .map(|m| m.as_str().to_owned())
        })
        .unwrap_or_else(|| format!("sha256:{}", hex(&delivery.data)));
    let last = facts
        .last_failure_at
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    let dedupe = format!(
        "{queue}\u{1f}{message_id}\u{1f}{last}\u{1f}{}\u{1f}{}",
        facts.error_code, facts.attempts
    );
    NewDeadLetter {
        integration: integration.to_owned(),
        queue: queue.to_owned(),
        message_type: envelope.as_ref().map(|e| e.message_type.clone()),
        tenant: envelope.as_ref().and_then(|e| e.tenant.clone()),
        original_routing_key: facts
            .original_routing_key
            .clone()
            .unwrap_or_else(|| delivery.routing_key.as_str().to_owned()),
        headers: json,
        body: delivery.data.clone(),
        reason: facts.reason,
        error_class: facts.error_class,
        error_code: facts.error_code,
        attempts: facts.attempts,
        first_failure_at: facts.first_failure_at,
        last_failure_at: facts.last_failure_at,
        worker: facts.worker,
        dedupe_key: hex(dedupe.as_bytes()),
        message_id,
    }
}

/// SHA-256 of `bytes`, lower-case hex.
fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
