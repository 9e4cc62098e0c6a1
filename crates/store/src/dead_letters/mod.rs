//! The dead-letter workbench's storage: parked messages, encrypted at rest, grouped by cause.
//!
//! The ingester stores each message parked on `<integration>.dead` with
//! [`Store::insert_dead_letter`](crate::Store::insert_dead_letter) (once, however often it is
//! delivered) and acks after the commit. Admins then list, group, inspect, replay, edit and
//! replay, purge and archive them through the CLI and the admin API, which call the methods in
//! this module and write the audit log.
//!
//! A record is `parked` until exactly one of: replayed, resolved by an edited message, purged,
//! or archived by age. Replays lock the row while publishing, so a record is either replayed
//! (and the message confirmed by the broker) or still parked — never both, never neither.

mod cipher;
mod filter;
mod normalize;
mod preview;
mod queries;
mod records;
mod replay;
mod retention;
mod status;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use cipher::PayloadCipher;
pub use normalize::{group_id, normalize_error};
pub use preview::preview;
pub use records::{DeadLetterGroup, DeadLetterRecord, DeadLetterSummary};
pub use status::DeadLetterStatus;

/// A parked message as the ingester read it from `<integration>.dead`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDeadLetter {
    /// The integration whose worker parked it (`sms`, `email`, …).
    pub integration: String,
    /// The parking queue it was read from, e.g. `switchyard.sms.dead`.
    pub queue: String,
    /// The message's id (the envelope id and AMQP `message_id`).
    pub message_id: String,
    /// The message type, when the envelope could be read.
    pub message_type: Option<String>,
    /// The tenant, when the envelope names one.
    pub tenant: Option<String>,
    /// The routing key the message was first published with; replays go back by it.
    pub original_routing_key: String,
    /// The AMQP headers as JSON, including RabbitMQ's `x-death`.
    pub headers: serde_json::Value,
    /// The message body exactly as parked. Stored encrypted; never logged.
    pub body: Vec<u8>,
    /// Why it was parked, as the worker or broker said it.
    pub reason: String,
    /// The error class, e.g. `permanent`, `delivery_limit`.
    pub error_class: String,
    /// The provider's or Switchyard's error code, e.g. `21211`.
    pub error_code: String,
    /// How many attempts were made.
    pub attempts: i32,
    /// When the first attempt failed, if known.
    pub first_failure_at: Option<DateTime<Utc>>,
    /// When the last attempt failed, if known.
    pub last_failure_at: Option<DateTime<Utc>>,
    /// The worker instance that parked it, if known.
    pub worker: Option<String>,
    /// Identifies this parked copy, so a redelivery of it is stored once.
    pub dedupe_key: String,
}

impl fmt::Debug for NewDeadLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body is what encryption protects; a debug log must not undo that.
        f.debug_struct("NewDeadLetter")
            .field("integration", &self.integration)
            .field("queue", &self.queue)
            .field("message_id", &self.message_id)
            .field("message_type", &self.message_type)
            .field("error_class", &self.error_class)
            .field("error_code", &self.error_code)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("dedupe_key", &self.dedupe_key)
            .finish_non_exhaustive()
    }
}

/// Which dead letters an operation applies to. Every set field must match; the default
/// matches every parked record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadLetterFilter {
    /// Only these record ids (empty: any).
    pub ids: Vec<i64>,
    /// Only this integration.
    pub integration: Option<String>,
    /// Only this message type.
    pub message_type: Option<String>,
    /// Only this tenant.
    pub tenant: Option<String>,
    /// Only this error class.
    pub error_class: Option<String>,
    /// Only this error code.
    pub error_code: Option<String>,
    /// Only this group (see [`group_id`]).
    pub group_id: Option<String>,
    /// Only records parked at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only records parked before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only records whose reason contains this text, ignoring case.
    pub text: Option<String>,
    /// Only records in this status; `None` means [`DeadLetterStatus::Parked`].
    pub status: Option<DeadLetterStatus>,
}

/// The result of a replay or an edit-and-replay of one record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayOutcome {
    /// Published (broker confirmed) and marked; carries the id of the message sent.
    Replayed(String),
    /// Not parked any more (replayed, resolved, purged or archived), held by another replayer
    /// right now, or no record has that id; nothing was sent. Callers that must tell an
    /// unknown id apart look it up with [`Store::dead_letter`](crate::Store::dead_letter).
    NotParked,
    /// The publish failed; the record is still parked. Carries the publisher's error.
    PublishFailed(String),
}
