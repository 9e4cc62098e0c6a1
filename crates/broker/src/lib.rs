//! RabbitMQ for Switchyard: `queues.toml` (the topology and per-integration policies), its
//! idempotent declaration, a connection that survives broker restarts, and confirmed
//! publishing. Workers and the ingress use this crate; none of them talk to lapin directly
//! for set-up.

pub mod config;
mod connection;
pub mod properties;
mod publish;
mod topology;

pub use config::{BreakerPolicy, QueuePolicy, QueuesConfig, RateLimitPolicy};
pub use connection::{Broker, OPERATION_TIMEOUT, bounded};
pub use publish::{PublishError, Publisher};
pub use topology::Topology;

/// What can go wrong talking to RabbitMQ. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// `queues.toml` is unreadable or invalid.
    #[error("invalid queue configuration: {0}")]
    Config(String),
    /// The broker could not be reached at start.
    #[error(
        "cannot reach RabbitMQ at {url} ({reason}). Is it running? Start it with \
         `rabbitmq-server -detached` (or scripts/services.sh), or point SWITCHYARD_AMQP_URL \
         at your broker"
    )]
    Unreachable {
        /// The URL, password masked.
        url: String,
        /// What failed.
        reason: String,
    },
    /// A queue exists with arguments that differ from `queues.toml`.
    #[error(
        "queue `{queue}` already exists with a different `{argument}` than queues.toml asks \
         for. RabbitMQ cannot change queue arguments in place: drain the queue, delete it \
         (`rabbitmqctl delete_queue {queue}`) and run `switchyard topology apply`, or keep the \
         old value in queues.toml. Broker said: {detail}"
    )]
    Mismatch {
        /// The queue.
        queue: String,
        /// The differing argument, e.g. `x-delivery-limit`.
        argument: String,
        /// RabbitMQ's own message.
        detail: String,
    },
    /// Not connected right now (reconnecting in the background).
    #[error("{0}")]
    Unavailable(String),
    /// Any other AMQP failure.
    #[error("RabbitMQ error: {0}")]
    Amqp(#[from] lapin::Error),
}
