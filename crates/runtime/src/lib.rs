//! The worker runtime, written once for every integration: consume with prefetch and bounded
//! concurrency, decode, idempotency (Postgres), rate limit (token bucket), circuit breaker
//! (failsafe; the consumer stops while it is open), handler timeout, panic capture, retry via
//! TTL tiers, parking, delivery log, metrics, graceful shutdown.
//!
//! Where things are decided:
//! - retry or park, and which tier: [`retry::decide`];
//! - the HTTP status → error class mapping: [`http::classify_status`];
//! - each worker's own errors: its `error.rs`, one exhaustive `match`.

pub mod breaker;
mod consumer;
pub mod delivery_log;
pub mod depth;
pub mod http;
pub mod incoming;
mod processor;
mod reroute;
pub mod retry;

use std::sync::Arc;
use std::time::Duration;

use switchyard_broker::{Broker, Publisher};
use switchyard_contract::Worker;
use switchyard_store::Store;
use switchyard_telemetry::Metrics;
use tokio_util::sync::CancellationToken;

use crate::consumer::ConsumeLoop;
use crate::processor::Processor;

/// What every worker's runtime shares with the rest of the process.
#[derive(Clone)]
pub struct RuntimeContext {
    /// The RabbitMQ connection.
    pub broker: Broker,
    /// Confirmed publishing (retries, parking).
    pub publisher: Publisher,
    /// Postgres: idempotency, delivery log.
    pub store: Store,
    /// Process metrics.
    pub metrics: Metrics,
    /// How long in-flight handlers may run after SIGTERM.
    pub shutdown_grace: Duration,
    /// How often queue depths are polled.
    pub depth_interval: Duration,
}

/// Why a worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The worker has no `[queues.<name>]` entry.
    #[error("queues.toml has no [queues.{0}] entry; add one (see the shipped queues.toml)")]
    NoQueue(&'static str),
}

/// Runs `worker` until `shutdown` is cancelled, then drains in-flight work within the grace
/// period and returns.
pub async fn run<W: Worker>(
    worker: W,
    ctx: RuntimeContext,
    shutdown: CancellationToken,
) -> Result<(), RuntimeError> {
    let topology = ctx.broker.topology().clone();
    let policy = topology
        .config()
        .policy(W::NAME)
        .ok_or(RuntimeError::NoQueue(W::NAME))?
        .clone();
    let worker = Arc::new(worker);
    let queues = vec![
        topology.work_queue(W::NAME),
        topology.parking_queue(W::NAME),
    ];
    let depth_poll = tokio::spawn(depth::poll(
        ctx.broker.clone(),
        queues,
        ctx.depth_interval,
        shutdown.child_token(),
    ));
    let processor = Arc::new(Processor::new(
        worker.clone(),
        policy.clone(),
        topology.clone(),
        ctx.clone(),
    ));
    let consume = ConsumeLoop {
        worker,
        processor,
        queue: topology.work_queue(W::NAME),
        prefetch: policy.prefetch,
        concurrency: policy.concurrency,
        probe_timeout: policy.handler_timeout,
        grace: ctx.shutdown_grace,
        broker: ctx.broker.clone(),
        metrics: ctx.metrics.clone(),
    };
    consume.run(shutdown).await;
    // Stopped before returning, so no poll races the caller closing the connection.
    let _ = depth_poll.await;
    Ok(())
}
