//! The RabbitMQ connection, kept alive: connect (failing fast with a clear error at start),
//! declare the topology, and — once running — notice a lost connection, reconnect with
//! backoff (`backon`), re-declare, and tell consumers to resubscribe through a generation
//! counter. Publishers see [`BrokerError::Unavailable`] meanwhile, so the ingress answers 503.

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use switchyard_telemetry::Metrics;
use switchyard_telemetry::mask;
use tokio::sync::watch;

use crate::{BrokerError, Topology};

/// How long to wait for the TCP + AMQP handshake before calling the broker unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the watchdog checks the connection.
const WATCH_INTERVAL: Duration = Duration::from_millis(200);
/// Every this many watch intervals the connection is proven by opening a channel.
const LIVENESS_EVERY: u32 = 5;
/// How long opening that channel may take before the connection counts as lost.
const LIVENESS_TIMEOUT: Duration = Duration::from_secs(3);

/// Opens and closes a channel within [`LIVENESS_TIMEOUT`].
async fn proves_alive(connection: &Connection) -> bool {
    let probe = async {
        let channel = connection.create_channel().await?;
        channel.close(200, "liveness probe".into()).await
    };
    matches!(
        tokio::time::timeout(LIVENESS_TIMEOUT, probe).await,
        Ok(Ok(()))
    )
}

/// A shared handle on the current RabbitMQ connection. Cheap to clone.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    name: String,
    topology: Topology,
    metrics: Metrics,
    current: RwLock<Option<Arc<Connection>>>,
    generation: watch::Sender<u64>,
}

impl Broker {
    /// Connects, declares the topology and starts the reconnect watchdog. An unreachable broker
    /// or a topology mismatch is an error here, at start, with what to do about it.
    pub async fn connect(
        url: &str,
        topology: Topology,
        connection_name: &str,
        metrics: Metrics,
    ) -> Result<Broker, BrokerError> {
        let connection = open(url, connection_name, &topology).await?;
        metrics.broker_connected.set(1);
        let inner = Arc::new(Inner {
            url: url.to_owned(),
            name: connection_name.to_owned(),
            topology,
            metrics,
            current: RwLock::new(Some(Arc::new(connection))),
            generation: watch::channel(0).0,
        });
        tokio::spawn(watchdog(Arc::downgrade(&inner)));
        Ok(Broker { inner })
    }

    /// The topology this broker was set up with.
    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    /// The process's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Whether a live connection is held right now.
    pub fn is_connected(&self) -> bool {
        self.connection().is_some_and(|c| c.status().connected())
    }

    /// Changes each time a new connection replaces a lost one; consumers resubscribe then.
    pub fn generations(&self) -> watch::Receiver<u64> {
        self.inner.generation.subscribe()
    }

    /// A new channel on the current connection.
    pub async fn channel(&self) -> Result<Channel, BrokerError> {
        let connection = self.connection().ok_or_else(|| self.unavailable())?;
        bounded("opening a channel", connection.create_channel())
            .await?
            .map_err(|e| BrokerError::Unavailable(format!("{}: {e}", mask::url(&self.inner.url))))
    }

    /// Messages ready in `queue` (a passive declare, so it never creates anything).
    pub async fn queue_depth(&self, queue: &str) -> Result<u32, BrokerError> {
        let channel = self.channel().await?;
        let options = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let declared = channel.queue_declare(queue.into(), options, FieldTable::default());
        let q = bounded("polling a queue depth", declared).await??;
        let _ = bounded(
            "closing a channel",
            channel.close(200, "depth polled".into()),
        )
        .await;
        Ok(q.message_count())
    }

    /// Closes the connection (used at shutdown); the watchdog stops with the last handle.
    pub async fn close(&self) {
        let taken = self
            .inner
            .current
            .write()
            .expect("broker lock poisoned")
            .take();
        if let Some(connection) = taken {
            let _ = bounded(
                "closing the connection",
                connection.close(200, "shutting down".into()),
            )
            .await;
        }
    }

    fn connection(&self) -> Option<Arc<Connection>> {
        self.inner
            .current
            .read()
            .expect("broker lock poisoned")
            .clone()
    }

    fn unavailable(&self) -> BrokerError {
        BrokerError::Unavailable(format!(
            "not connected to RabbitMQ at {}; reconnecting",
            mask::url(&self.inner.url)
        ))
    }
}

/// Longest wait for one broker round trip. A healthy broker answers in milliseconds; a broken
/// connection can leave a lapin future pending forever, and nothing here may hang a shutdown or
/// a request.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs one broker operation with [`OPERATION_TIMEOUT`].
pub async fn bounded<T>(
    what: &str,
    operation: impl std::future::Future<Output = T>,
) -> Result<T, BrokerError> {
    tokio::time::timeout(OPERATION_TIMEOUT, operation)
        .await
        .map_err(|_| {
            BrokerError::Unavailable(format!(
                "RabbitMQ did not answer within {OPERATION_TIMEOUT:?} while {what}"
            ))
        })
}

async fn open(url: &str, name: &str, topology: &Topology) -> Result<Connection, BrokerError> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    let connect = Connection::connect(url, properties);
    let connection = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(unreachable(url, &e.to_string())),
        Err(_) => return Err(unreachable(url, "no answer within 5s")),
    };
    match tokio::time::timeout(OPERATION_TIMEOUT * 3, topology.declare(&connection)).await {
        Ok(declared) => declared?,
        Err(_) => return Err(unreachable(url, "declaring the topology timed out")),
    }
    Ok(connection)
}

fn unreachable(url: &str, reason: &str) -> BrokerError {
    BrokerError::Unreachable {
        url: mask::url(url),
        reason: reason.to_owned(),
    }
}

/// Watches the connection while any [`Broker`] handle lives; replaces it when lost.
async fn watchdog(inner: Weak<Inner>) {
    let mut ticks: u32 = 0;
    loop {
        tokio::time::sleep(WATCH_INTERVAL).await;
        ticks = ticks.wrapping_add(1);
        let Some(inner) = inner.upgrade() else { return };
        let current = inner.current.read().expect("broker lock poisoned").clone();
        let Some(connection) = current else { return }; // closed on purpose
        // lapin's status can stay "connected" after its I/O loop failed on a reset socket (seen
        // when RabbitMQ restarts): every few ticks, prove the connection by opening a channel.
        let alive = connection.status().connected()
            && (!ticks.is_multiple_of(LIVENESS_EVERY) || proves_alive(&connection).await);
        if alive {
            continue;
        }
        inner.metrics.broker_connected.set(0);
        tracing::warn!(url = %mask::url(&inner.url), "lost the RabbitMQ connection; reconnecting");
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(5))
            .with_jitter()
            .without_max_times();
        let reconnect = || open(&inner.url, &inner.name, &inner.topology);
        let connection = reconnect
            .retry(backoff)
            .notify(|e, delay| tracing::warn!(error = %e, ?delay, "RabbitMQ still unreachable"))
            .await;
        let Ok(connection) = connection else { continue };
        *inner.current.write().expect("broker lock poisoned") = Some(Arc::new(connection));
        inner.metrics.broker_connected.set(1);
        inner.metrics.broker_reconnects.inc();
        inner.generation.send_modify(|g| *g += 1);
        tracing::info!("reconnected to RabbitMQ");
    }
}
