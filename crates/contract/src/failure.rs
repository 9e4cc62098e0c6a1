//! The error classes the runtime acts on, and the outcomes it records.
//!
//! Every worker maps its own error enum onto [`Failure`] in one exhaustive `match`
//! (see [`Classify`]); the runtime decides retry, wait or park from the class alone.

use std::time::Duration;

/// How a failed delivery is treated. `code` is a short, bounded, snake_case identifier
/// (`provider_unavailable`, `invalid_number`, …) used as a metric label, so it is `'static`:
/// a worker cannot put ids or free text in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Transient: try again later (5xx, 408, connection refused, an idempotent timeout).
    Retryable {
        /// Bounded error code.
        code: &'static str,
        /// The provider's hint of when to retry, if it gave one.
        retry_after: Option<Duration>,
    },
    /// The provider asked us to slow down (429); retry no sooner than `retry_after`.
    RateLimited {
        /// Bounded error code.
        code: &'static str,
        /// The provider's `Retry-After`, if present.
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help (invalid number, bad credentials): park it for a person.
    Permanent {
        /// Bounded error code.
        code: &'static str,
    },
    /// The request may have reached the provider, but no answer came back (a timeout or a
    /// connection lost mid-request), so whether the side effect happened is unknown. It is
    /// retried like [`Failure::Retryable`], but the idempotency claim is kept and the next
    /// attempt first asks the provider ([`crate::Worker::reconcile`]) instead of resending
    /// blindly. Labelled `retryable` in metrics and parking headers.
    OutcomeUnknown {
        /// Bounded error code.
        code: &'static str,
    },
}

impl Failure {
    /// The class, as used in metric labels and parking headers.
    pub fn class(&self) -> ErrorClass {
        match self {
            Failure::Retryable { .. } | Failure::OutcomeUnknown { .. } => ErrorClass::Retryable,
            Failure::RateLimited { .. } => ErrorClass::RateLimited,
            Failure::Permanent { .. } => ErrorClass::Permanent,
        }
    }

    /// The bounded error code.
    pub fn code(&self) -> &'static str {
        match self {
            Failure::Retryable { code, .. }
            | Failure::RateLimited { code, .. }
            | Failure::Permanent { code }
            | Failure::OutcomeUnknown { code } => code,
        }
    }

    /// The provider's retry hint, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Retryable { retry_after, .. } | Failure::RateLimited { retry_after, .. } => {
                *retry_after
            }
            Failure::Permanent { .. } | Failure::OutcomeUnknown { .. } => None,
        }
    }

    /// Whether this failure says the provider is unhealthy (counts against the circuit
    /// breaker). A permanent error is about the message, and a rate limit is the provider
    /// working as designed, so neither opens the breaker.
    pub fn indicates_outage(&self) -> bool {
        matches!(
            self,
            Failure::Retryable { .. } | Failure::OutcomeUnknown { .. }
        )
    }

    /// Whether the provider may have acted although the attempt failed: the next attempt
    /// must reconcile before it repeats the side effect.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Failure::OutcomeUnknown { .. })
    }
}

/// The three error classes, as a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorClass {
    /// See [`Failure::Retryable`].
    Retryable,
    /// See [`Failure::RateLimited`].
    RateLimited,
    /// See [`Failure::Permanent`].
    Permanent,
}

impl ErrorClass {
    /// Snake-case label.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorClass::Retryable => "retryable",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::Permanent => "permanent",
        }
    }
}

/// Implemented by every worker's error enum: the one place its errors are classified.
pub trait Classify {
    /// Which class this error belongs to. Implement it with an exhaustive `match`.
    fn classify(&self) -> Failure;

    /// Whether this error counts against the circuit breaker. By default exactly when the
    /// class says the provider is down ([`Failure::indicates_outage`]). A worker overrides it
    /// for an error that is permanent for the message yet says the provider is broken for
    /// every message, such as an SMTP relay refusing our credentials: the message parks,
    /// and the breaker stops consumption before every other message parks too.
    fn trips_breaker(&self) -> bool {
        self.classify().indicates_outage()
    }
}

/// How the runtime finished with one delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// The handler succeeded; acked.
    Succeeded,
    /// Republished to a retry tier (confirmed), then acked.
    Retried,
    /// Published to the parking queue (confirmed), then acked.
    Parked,
    /// The idempotency key had already succeeded; acked without calling the handler.
    Duplicate,
}

impl Outcome {
    /// Snake-case label.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Retried => "retried",
            Outcome::Parked => "parked",
            Outcome::Duplicate => "duplicate",
        }
    }

    /// Every outcome, for pre-registering metric series.
    pub const ALL: [Outcome; 4] = [
        Outcome::Succeeded,
        Outcome::Retried,
        Outcome::Parked,
        Outcome::Duplicate,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_retryable_failures_count_against_the_breaker() {
        let retry = Failure::Retryable {
            code: "provider_unavailable",
            retry_after: None,
        };
        let limited = Failure::RateLimited {
            code: "rate_limited",
            retry_after: None,
        };
        let permanent = Failure::Permanent {
            code: "invalid_number",
        };
        assert!(retry.indicates_outage());
        assert!(!limited.indicates_outage());
        assert!(!permanent.indicates_outage());
        assert_eq!(permanent.class().as_str(), "permanent");
        assert_eq!(limited.code(), "rate_limited");
    }

    #[test]
    fn an_unknown_outcome_is_retried_as_retryable_and_flagged_for_reconciliation() {
        let unknown = Failure::OutcomeUnknown {
            code: "provider_timeout_outcome_unknown",
        };
        assert!(unknown.indicates_outage());
        assert!(unknown.outcome_unknown());
        assert_eq!(unknown.class(), ErrorClass::Retryable);
        assert_eq!(unknown.retry_after(), None);
        assert!(
            !Failure::Retryable {
                code: "x",
                retry_after: None
            }
            .outcome_unknown()
        );
    }
}
