//! Confirmed publishing. A publish is done when the broker confirmed it (the message is in a
//! queue, persisted); only then may a caller acknowledge anything upstream.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation};
use tokio::sync::Mutex;

use crate::{Broker, BrokerError};

/// Why a publish did not complete.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No connection, or the channel broke mid-publish: nothing is known to be queued.
    #[error("RabbitMQ unavailable: {0}")]
    Unavailable(String),
    /// A mandatory publish matched no queue (no binding for this routing key).
    #[error("no queue is bound to routing key `{0}`")]
    Unroutable(String),
    /// The broker refused the message (e.g. an overflowing queue).
    #[error("RabbitMQ refused the message (nack)")]
    Nacked,
    /// No confirm arrived in time; the message may or may not be queued.
    #[error("no publisher confirm within {0:?}")]
    ConfirmTimeout(Duration),
}

impl From<BrokerError> for PublishError {
    fn from(e: BrokerError) -> Self {
        PublishError::Unavailable(e.to_string())
    }
}

/// Confirm-mode channels a publisher spreads its publishes over. RabbitMQ runs each channel as
/// one Erlang process: with a single channel, every publish and confirm of the process goes
/// through one scheduler, which capped the ingress well below what the broker can take.
const CHANNELS: usize = 4;

/// Publishes on a few confirm-mode channels (round robin), each re-opened after a reconnect.
/// Cheap to clone; clones share the channels, and publishes on each are pipelined.
#[derive(Clone)]
pub struct Publisher {
    broker: Broker,
    confirm_timeout: Duration,
    channels: Arc<[Mutex<Option<Channel>>; CHANNELS]>,
    next: Arc<AtomicUsize>,
}

impl Publisher {
    /// A publisher that waits at most `confirm_timeout` for each confirm.
    pub fn new(broker: Broker, confirm_timeout: Duration) -> Self {
        Self {
            broker,
            confirm_timeout,
            channels: Arc::new(std::array::from_fn(|_| Mutex::new(None))),
            next: Arc::default(),
        }
    }

    /// The broker this publisher uses.
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Publishes and waits for the broker's confirm. `mandatory` makes an unroutable message an
    /// error instead of a silent drop.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
        mandatory: bool,
    ) -> Result<(), PublishError> {
        let channel = self.channel().await?;
        let started = Instant::now();
        let options = BasicPublishOptions {
            mandatory,
            ..Default::default()
        };
        // Bounded too: on a connection that just died, lapin can leave the send pending.
        let send = channel.basic_publish(
            exchange.into(),
            routing_key.into(),
            options,
            body,
            properties,
        );
        let pending = tokio::time::timeout(self.confirm_timeout, send)
            .await
            .map_err(|_| PublishError::ConfirmTimeout(self.confirm_timeout))?
            .map_err(|e| self.broken(e))?;
        let confirmation = tokio::time::timeout(self.confirm_timeout, pending)
            .await
            .map_err(|_| PublishError::ConfirmTimeout(self.confirm_timeout))?
            .map_err(|e| self.broken(e))?;
        self.broker
            .metrics()
            .publish_confirm
            .observe(started.elapsed().as_secs_f64());
        match confirmation {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(_)) => Err(PublishError::Unroutable(routing_key.to_owned())),
            Confirmation::Nack(_) => Err(PublishError::Nacked),
            Confirmation::NotRequested => unreachable!("the channel is in confirm mode"),
        }
    }

    async fn channel(&self) -> Result<Channel, PublishError> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % CHANNELS;
        let mut slot = self.channels[index].lock().await;
        if let Some(channel) = slot.as_ref().filter(|c| c.status().connected()) {
            return Ok(channel.clone());
        }
        let channel = self.broker.channel().await?;
        crate::bounded(
            "enabling publisher confirms",
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?
        .map_err(|e| PublishError::Unavailable(e.to_string()))?;
        *slot = Some(channel.clone());
        Ok(channel)
    }

    fn broken(&self, error: lapin::Error) -> PublishError {
        PublishError::Unavailable(error.to_string())
    }
}
