//! The payments worker's errors and their one classification.

use switchyard_broker::PublishError;
use switchyard_contract::{Classify, Failure};
use switchyard_store::StoreError;

/// What can go wrong with one provider event.
#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    /// An event of a type we map lacks a field we need: a person must look at it.
    #[error("{provider} event `{event_type}` lacks {field}; the payment was not updated")]
    Malformed {
        /// `stripe`, `paypal`.
        provider: &'static str,
        /// The provider's event type.
        event_type: String,
        /// What is missing or unreadable.
        field: &'static str,
    },
    /// Postgres failed; the event is retried (applying it is idempotent).
    #[error("recording the payment: {0}")]
    Store(#[from] StoreError),
    /// The ERP event was not confirmed; retried, and the outbox row republishes it.
    #[error("publishing the ERP event: {0}")]
    Publish(#[from] PublishError),
}

impl Classify for PaymentsError {
    fn classify(&self) -> Failure {
        match self {
            PaymentsError::Malformed { .. } => Failure::Permanent {
                code: "malformed_event",
            },
            PaymentsError::Store(_) => Failure::Retryable {
                code: "store_unavailable",
                retry_after: None,
            },
            PaymentsError::Publish(_) => Failure::Retryable {
                code: "event_publish_failed",
                retry_after: None,
            },
        }
    }
}
