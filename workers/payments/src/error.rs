//! The payments worker's errors and their one classification. Provider error codes: Stripe
//! <https://docs.stripe.com/error-codes>, PayPal <https://developer.paypal.com/api/rest/reference/orders/v2/errors/>.

use std::time::Duration;

use switchyard_broker::PublishError;
use switchyard_contract::{Classify, Failure};
use switchyard_runtime::http;
use switchyard_store::StoreError;

/// What can go wrong with one provider event or command.
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
    /// A command the provider cannot be asked as it stands (the schema cannot say it all).
    #[error("payments command field `{field}`: {reason}")]
    Invalid {
        /// The payload field.
        field: &'static str,
        /// What is wrong and what to send instead.
        reason: String,
    },
    /// The command's provider has no credentials in this deployment.
    #[error(
        "{0} is not configured: set its base URL and credentials (see `switchyard run --help`)"
    )]
    NotConfigured(&'static str),
    /// The provider answered with an error.
    #[error("{provider} answered {status}{}: {message}", code.as_ref().map(|c| format!(" {c}")).unwrap_or_default())]
    Rejected {
        /// `stripe`, `paypal`.
        provider: &'static str,
        /// HTTP status.
        status: u16,
        /// Stripe's `error.code` (or `type`), PayPal's first `details[].issue` (or `name`).
        code: Option<String>,
        /// The provider's message.
        message: String,
        /// `Retry-After`, if sent.
        retry_after: Option<Duration>,
    },
    /// No answer from the provider.
    #[error("no response from {provider}: {source}")]
    Transport {
        /// `stripe`, `paypal`.
        provider: &'static str,
        /// What reqwest saw.
        #[source]
        source: reqwest::Error,
    },
    /// A 2xx whose body is not the resource asked for.
    #[error("unexpected response from {provider}: {detail}")]
    UnexpectedResponse {
        /// `stripe`, `paypal`.
        provider: &'static str,
        /// What was missing.
        detail: String,
    },
    /// Postgres failed; the event is retried (applying it is idempotent).
    #[error("recording the payment: {0}")]
    Store(#[from] StoreError),
    /// The ERP event was not confirmed; retried, and the outbox row republishes it.
    #[error("publishing the ERP event: {0}")]
    Publish(#[from] PublishError),
}

// A new variant must be classified on purpose: no wildcard arm may swallow it.
#[deny(clippy::wildcard_enum_match_arm)]
impl Classify for PaymentsError {
    fn classify(&self) -> Failure {
        match self {
            PaymentsError::Malformed { .. } => Failure::Permanent {
                code: "malformed_event",
            },
            PaymentsError::Invalid { .. } => Failure::Permanent {
                code: "invalid_command",
            },
            PaymentsError::NotConfigured(_) => Failure::Permanent {
                code: "provider_not_configured",
            },
            PaymentsError::Rejected {
                status,
                code,
                retry_after,
                ..
            } => classify_rejection(*status, code.as_deref(), *retry_after),
            // Every provider call carries an idempotency key: repeating one cannot charge or
            // refund twice, so even a timeout is safely retried.
            PaymentsError::Transport { source, .. } => http::classify_transport(source, true),
            PaymentsError::UnexpectedResponse { .. } => Failure::Permanent {
                code: "unexpected_response",
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

/// The providers' own codes first (Stripe's and PayPal's do not overlap), the shared HTTP
/// mapping for the rest: 429 waits, 5xx retries (safe: idempotency key), other 4xx are
/// permanent. The provider's exact code stays in the error's text.
fn classify_rejection(status: u16, code: Option<&str>, retry_after: Option<Duration>) -> Failure {
    let permanent = |code| Failure::Permanent { code };
    match code {
        Some("amount_too_large" | "REFUND_AMOUNT_EXCEEDED") => permanent("refund_exceeds_payment"),
        Some("charge_already_refunded" | "CAPTURE_FULLY_REFUNDED") => permanent("already_refunded"),
        Some("resource_missing" | "RESOURCE_NOT_FOUND" | "INVALID_RESOURCE_ID") => {
            permanent("not_found")
        }
        // A request with the same key is still running at the provider: ask again later.
        Some("idempotency_key_in_use") => Failure::Retryable {
            code: "idempotent_request_in_flight",
            retry_after,
        },
        _ if status == 409 => Failure::Retryable {
            code: "idempotent_request_in_flight",
            retry_after,
        },
        Some("idempotency_error" | "PAYPAL_REQUEST_ID_PREVIOUSLY_USED") => {
            permanent("idempotency_key_reused")
        }
        Some("SUBSCRIPTION_STATUS_INVALID") => permanent("subscription_status_invalid"),
        // Stripe's own advice: a processing error may succeed when retried.
        Some("processing_error") => Failure::Retryable {
            code: "provider_processing_error",
            retry_after,
        },
        _ if status == 402 => permanent("card_declined"),
        Some("INSTRUMENT_DECLINED" | "PAYER_ACTION_REQUIRED") => permanent("card_declined"),
        _ => http::classify_status(status, retry_after),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_contract::ErrorClass;

    fn rejected(status: u16, code: Option<&str>) -> Failure {
        PaymentsError::Rejected {
            provider: "stripe",
            status,
            code: code.map(str::to_owned),
            message: "m".into(),
            retry_after: None,
        }
        .classify()
    }

    #[test]
    fn refund_errors_are_permanent_and_named() {
        for (status, code) in [(400, "amount_too_large"), (422, "REFUND_AMOUNT_EXCEEDED")] {
            let failure = rejected(status, Some(code));
            assert_eq!(failure.class(), ErrorClass::Permanent);
            assert_eq!(failure.code(), "refund_exceeds_payment");
        }
        assert_eq!(rejected(404, Some("resource_missing")).code(), "not_found");
        assert_eq!(
            rejected(422, Some("CAPTURE_FULLY_REFUNDED")).code(),
            "already_refunded"
        );
    }

    #[test]
    fn declines_are_permanent_and_outages_retry() {
        assert_eq!(rejected(402, Some("card_declined")).code(), "card_declined");
        assert_eq!(rejected(402, None).class(), ErrorClass::Permanent);
        assert_eq!(rejected(503, None).class(), ErrorClass::Retryable);
        assert_eq!(
            rejected(500, Some("api_error")).class(),
            ErrorClass::Retryable
        );
        assert_eq!(rejected(429, None).class(), ErrorClass::RateLimited);
        assert_eq!(rejected(409, None).class(), ErrorClass::Retryable);
        let in_flight = rejected(409, Some("idempotency_error"));
        assert_eq!(in_flight.code(), "idempotent_request_in_flight");
        assert_eq!(rejected(401, None).code(), "provider_auth_failed");
        assert_eq!(
            rejected(400, Some("parameter_missing")).class(),
            ErrorClass::Permanent
        );
    }

    #[test]
    fn a_reused_key_is_permanent() {
        let failure = rejected(400, Some("idempotency_error"));
        assert_eq!(failure.code(), "idempotency_key_reused");
        assert_eq!(failure.class(), ErrorClass::Permanent);
    }
}
