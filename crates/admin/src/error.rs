//! Errors of the admin operations; each says what to do.

use switchyard_contract::FieldError;
use switchyard_store::StoreError;

/// What can go wrong in an admin operation.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No such record.
    #[error("no dead letter with id {0}; list them with `switchyard dlq list`")]
    NotFound(i64),
    /// The record is no longer parked.
    #[error("dead letter {0} is not parked any more (already replayed, resolved or purged)")]
    NotParked(i64),
    /// The parked body is not an envelope, so it has no payload to edit.
    #[error("dead letter {0} is not a decodable envelope; it can only be purged or replayed as is")]
    NotEditable(i64),
    /// The edited payload breaks the schema; nothing was sent.
    #[error("the edited payload is invalid: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// RabbitMQ is not reachable; nothing was replayed.
    #[error(
        "RabbitMQ is unavailable; nothing was replayed and the records stay parked. Retry when it is back"
    )]
    BrokerDown,
    /// A publish failed; the record stays parked.
    #[error("publishing failed ({0}); the record stays parked")]
    Publish(String),
    /// Postgres failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
