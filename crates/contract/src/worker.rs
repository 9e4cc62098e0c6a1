//! The worker trait: what one integration implements. Everything around it (consume, decode,
//! idempotency, rate limit, circuit breaker, timeout, retry, parking, metrics, shutdown) is the
//! runtime's job, written once.

use std::future::Future;

use chrono::{DateTime, Utc};

use serde::de::DeserializeOwned;

use crate::failure::Classify;

/// What the runtime tells a handler about the delivery it is handling.
#[derive(Clone, Debug)]
pub struct DeliveryContext {
    /// Envelope id.
    pub message_id: String,
    /// Envelope type.
    pub message_type: String,
    /// Tenant, if any.
    pub tenant: Option<String>,
    /// 1 on the first delivery, incremented by each retry.
    pub attempt: u32,
    /// Correlation id, if any.
    pub correlation_id: Option<String>,
    /// The idempotency key the side effect is deduplicated by.
    pub idempotency_key: String,
}

/// A successful handling.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Done {
    /// The provider's id for what was created (e.g. a Twilio message SID).
    pub provider_ref: Option<String>,
}

/// One integration. `Job` is a serde enum adjacently tagged by the envelope's `type` and
/// `payload`, so an unknown type or a malformed payload is a decode error, parked with
/// `decode_failed` before the handler ever runs.
pub trait Worker: Send + Sync + 'static {
    /// The integration's one name: crate, `queues.toml` key, metric label, CLI argument.
    const NAME: &'static str;
    /// The messages this worker handles.
    type Job: DeserializeOwned + Send + Sync + 'static;
    /// The worker's errors, classified in one exhaustive match.
    type Error: std::error::Error + Classify + Send + Sync + 'static;

    /// Handles one job. Called at most once at a time per idempotency key.
    fn handle(
        &self,
        job: Self::Job,
        ctx: &DeliveryContext,
    ) -> impl Future<Output = Result<Done, Self::Error>> + Send;

    /// Whether handling `job` has an external side effect that must happen at most once per
    /// idempotency key (sending an SMS does; recording a status callback does not).
    fn has_side_effect(&self, job: &Self::Job) -> bool;

    /// Called instead of going straight to [`handle`](Self::handle) when the previous attempt
    /// with this idempotency key died mid-way (a crash while the provider call was in flight):
    /// ask the provider whether the side effect happened since `since`. `Ok(Some(done))`: it
    /// did, it is not repeated; `Ok(None)`: it did not, `handle` runs. A provider that takes
    /// idempotency keys can simply return `Ok(None)` and let `handle` resend with the same key.
    fn reconcile(
        &self,
        job: &Self::Job,
        ctx: &DeliveryContext,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Done>, Self::Error>> + Send;

    /// A cheap call that tells whether the provider is healthy again, used to close an open
    /// circuit breaker before consuming resumes. It must not have side effects.
    fn probe(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
