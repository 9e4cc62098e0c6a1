//! The consume loop of one worker: subscribe with prefetch, hand deliveries to at most
//! `concurrency` handlers, and step back when it should — the breaker opened (cancel the
//! consumer, let in-flight work finish, return the unstarted prefetched messages by closing the
//! channel, probe until the provider is back), the connection dropped (resubscribe after the
//! broker reconnects), or shutdown (stop taking work, drain within the grace period).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};
use switchyard_broker::bounded;
use switchyard_contract::{Classify, Worker};
use switchyard_telemetry::Metrics;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::breaker::BreakerState;
use crate::processor::Processor;

/// Why consuming stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Shutdown,
    BreakerOpen,
    ConnectionLost,
    /// A delivery's task died without settling it: only closing the channel gives the delivery
    /// back to the broker.
    DeliveryAbandoned,
}

pub(crate) struct ConsumeLoop<W: Worker> {
    pub(crate) worker: Arc<W>,
    pub(crate) processor: Arc<Processor<W>>,
    pub(crate) queue: String,
    pub(crate) prefetch: u16,
    pub(crate) concurrency: usize,
    pub(crate) probe_timeout: Duration,
    pub(crate) grace: Duration,
    pub(crate) broker: switchyard_broker::Broker,
    pub(crate) metrics: Metrics,
}

impl<W: Worker> ConsumeLoop<W> {
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let label = Metrics::integration(W::NAME);
        while !shutdown.is_cancelled() {
            if !self.wait_until_closed(&shutdown).await {
                break;
            }
            let (channel, consumer) = match self.subscribe().await {
                Ok(subscription) => subscription,
                Err(error) => {
                    tracing::debug!(%error, queue = %self.queue, "cannot subscribe yet");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(250)) => continue,
                    }
                }
            };
            tracing::info!(queue = %self.queue, "consuming");
            self.metrics.consumer_active.get_or_create(&label).set(1);
            let mut tasks = JoinSet::new();
            let stop = self.consume(consumer.clone(), &mut tasks, &shutdown).await;
            self.metrics.consumer_active.get_or_create(&label).set(0);
            tracing::info!(queue = %self.queue, reason = ?stop, "stopped consuming");
            let cancel = channel.basic_cancel(consumer.tag(), BasicCancelOptions::default());
            let _ = bounded("cancelling the consumer", cancel).await;
            self.drain(&mut tasks).await;
            // Unacked, unstarted prefetched messages go back to the queue with the channel. A
            // channel the broker already closed must not be closed twice (lapin reports that as
            // a connection error).
            if channel.status().connected() {
                let close = channel.close(200, "consumer paused".into());
                let _ = bounded("closing the consumer channel", close).await;
            }
        }
    }

    async fn subscribe(&self) -> Result<(Channel, Consumer), switchyard_broker::BrokerError> {
        let channel = self.broker.channel().await?;
        let qos = channel.basic_qos(self.prefetch, BasicQosOptions::default());
        bounded("setting prefetch", qos).await??;
        let tag = format!("{}-{}", W::NAME, std::process::id());
        let queue = self.queue.as_str().into();
        let options = BasicConsumeOptions::default();
        let consume = channel.basic_consume(queue, tag.into(), options, FieldTable::default());
        let consumer = bounded("subscribing", consume).await??;
        Ok((channel, consumer))
    }

    async fn consume(
        &self,
        mut consumer: Consumer,
        tasks: &mut JoinSet<()>,
        shutdown: &CancellationToken,
    ) -> Stop {
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let mut breaker = self.processor.breaker.watch();
        // A reconnect means this consumer's channel is gone, even when its stream never said
        // so: subscribe again on the new connection.
        let mut generation = self.broker.generations();
        generation.mark_unchanged();
        loop {
            while let Some(finished) = tasks.try_join_next() {
                if abandoned(finished) {
                    return Stop::DeliveryAbandoned;
                }
            }
            let permit = tokio::select! {
                _ = shutdown.cancelled() => return Stop::Shutdown,
                _ = breaker.wait_for(|s| *s == BreakerState::Open) => return Stop::BreakerOpen,
                permit = slots.clone().acquire_owned() => permit.expect("semaphore never closed"),
            };
            let next = tokio::select! {
                _ = shutdown.cancelled() => return Stop::Shutdown,
                _ = breaker.wait_for(|s| *s == BreakerState::Open) => return Stop::BreakerOpen,
                _ = generation.changed() => return Stop::ConnectionLost,
                Some(finished) = tasks.join_next() => {
                    if abandoned(finished) {
                        return Stop::DeliveryAbandoned;
                    }
                    continue;
                }
                next = consumer.next() => next,
            };
            let delivery = match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(error)) => {
                    tracing::warn!(%error, "consumer failed");
                    return Stop::ConnectionLost;
                }
                None => return Stop::ConnectionLost,
            };
            let processor = self.processor.clone();
            tasks.spawn(async move {
                processor.process(delivery).await;
                drop(permit);
            });
        }
    }

    /// Waits for in-flight handlers, for the grace period at most: what is still running then
    /// is abandoned unacked, and the broker redelivers it. Bounded also when the connection
    /// was lost or the breaker opened, so a task stuck on a dead connection cannot keep the
    /// consumer from resubscribing.
    async fn drain(&self, tasks: &mut JoinSet<()>) {
        let all = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(self.grace, all).await.is_err() {
            tracing::warn!(
                left = tasks.len(),
                "grace period over; leaving the rest for redelivery"
            );
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
    }

    /// Returns when the breaker is closed (probing the provider while it is open), or `false`
    /// on shutdown.
    async fn wait_until_closed(&self, shutdown: &CancellationToken) -> bool {
        let breaker = &self.processor.breaker;
        loop {
            if breaker.state() == BreakerState::Closed {
                return true;
            }
            if breaker.permits() {
                self.probe().await;
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }

    async fn probe(&self) {
        let breaker = &self.processor.breaker;
        match tokio::time::timeout(self.probe_timeout, self.worker.probe()).await {
            Ok(Ok(())) => breaker.success(),
            Ok(Err(error)) if !error.trips_breaker() => breaker.success(),
            Ok(Err(error)) => {
                tracing::info!(%error, "probe failed; breaker stays open");
                breaker.failure();
            }
            Err(_) => breaker.failure(),
        }
    }
}

/// Whether a delivery's task died (panicked outside the handler, where nothing catches it)
/// instead of settling its delivery.
fn abandoned(finished: Result<(), tokio::task::JoinError>) -> bool {
    let Err(error) = finished else { return false };
    tracing::error!(%error, "a delivery's task died; returning the channel's deliveries to the queue");
    true
}
