//! The SMS worker's errors and their one classification. Twilio error codes:
//! <https://www.twilio.com/docs/api/errors>.

use std::time::Duration;

use switchyard_contract::{Classify, Failure};
use switchyard_runtime::http;
use switchyard_store::StoreError;
use switchyard_templates::RenderError;

/// Everything that can go wrong delivering an SMS. `Display` never shows a full phone number.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// Twilio answered with an error status.
    #[error("Twilio answered {status}{}: {message}", code.map(|c| format!(" with error {c}")).unwrap_or_default())]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Twilio's error code, when the body had one.
        code: Option<u32>,
        /// Twilio's message, phone numbers masked.
        message: String,
        /// `Retry-After`, if sent.
        retry_after: Option<Duration>,
    },
    /// No response from Twilio.
    #[error("no response from Twilio: {0}")]
    Transport(#[source] reqwest::Error),
    /// Twilio said 2xx but the body was not a message resource. The SMS was probably created,
    /// so this is not retried (that could send it twice).
    #[error("unexpected response from Twilio: {0}")]
    UnexpectedResponse(String),
    /// The template is unknown, needs a variable the message lacks, or failed to render.
    #[error(transparent)]
    Template(#[from] RenderError),
    /// The message gives neither `body` nor `template` (the schema forbids it; a message
    /// published straight to AMQP may still try).
    #[error("the message gives neither body nor template")]
    NoText,
    /// Neither the message nor the configuration gives a sender.
    #[error(
        "no sender: set `from` or `messaging_service_sid` in the message, or configure a default sender"
    )]
    NoSender,
    /// Postgres failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

// A new variant must be classified on purpose: no wildcard arm may swallow it.
#[deny(clippy::wildcard_enum_match_arm)]
impl Classify for SmsError {
    fn classify(&self) -> Failure {
        match self {
            SmsError::Rejected {
                status,
                code,
                retry_after,
                ..
            } => classify_twilio(*status, *code, *retry_after),
            // Sending is not idempotent at Twilio: a timed-out send is not blindly retried.
            SmsError::Transport(e) => http::classify_transport(e, false),
            SmsError::UnexpectedResponse(_) => Failure::Permanent {
                code: "unexpected_response",
            },
            SmsError::Template(e) => Failure::Permanent {
                code: template_code(e),
            },
            SmsError::NoText => Failure::Permanent { code: "no_text" },
            SmsError::NoSender => Failure::Permanent { code: "no_sender" },
            SmsError::Store(_) => Failure::Retryable {
                code: "store_unavailable",
                retry_after: None,
            },
        }
    }
}

/// The bounded code of a template error (the variable name stays in the detail).
fn template_code(error: &RenderError) -> &'static str {
    match error {
        RenderError::Unknown { .. } => "unknown_template",
        RenderError::MissingVariable { .. } => "template_variable_missing",
        RenderError::Failed { .. } => "template_failed",
    }
}

/// Twilio's error codes first, the shared HTTP mapping for everything else.
fn classify_twilio(status: u16, code: Option<u32>, retry_after: Option<Duration>) -> Failure {
    match code {
        Some(20003) => Failure::Permanent {
            code: "auth_failed",
        },
        Some(20429) => Failure::RateLimited {
            code: "rate_limited",
            retry_after,
        },
        Some(21211 | 21614 | 21217 | 21401) => Failure::Permanent {
            code: "invalid_number",
        },
        Some(21610) => Failure::Permanent {
            code: "recipient_opted_out",
        },
        Some(21408 | 21612) => Failure::Permanent {
            code: "unreachable_destination",
        },
        Some(21602 | 21603 | 21604 | 21606 | 21617) => Failure::Permanent {
            code: "invalid_request",
        },
        _ if status == 401 => Failure::Permanent {
            code: "auth_failed",
        },
        _ => http::classify_status(status, retry_after),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_contract::ErrorClass;

    fn rejected(status: u16, code: Option<u32>) -> SmsError {
        SmsError::Rejected {
            status,
            code,
            message: String::new(),
            retry_after: Some(Duration::from_secs(3)),
        }
    }

    #[test]
    fn twilio_codes_decide_before_the_status() {
        assert_eq!(
            rejected(400, Some(21211)).classify().code(),
            "invalid_number"
        );
        assert_eq!(rejected(401, Some(20003)).classify().code(), "auth_failed");
        assert_eq!(rejected(401, None).classify().code(), "auth_failed");
        let limited = rejected(429, Some(20429)).classify();
        assert_eq!(limited.class(), ErrorClass::RateLimited);
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(
            rejected(503, Some(20503)).classify().class(),
            ErrorClass::Retryable
        );
        assert_eq!(
            rejected(500, None).classify().class(),
            ErrorClass::Retryable
        );
        assert_eq!(
            rejected(404, Some(20404)).classify().class(),
            ErrorClass::Permanent
        );
    }

    #[test]
    fn template_and_sender_mistakes_park() {
        assert_eq!(
            SmsError::Template(RenderError::Unknown {
                name: "sms/x.txt".into(),
                searched: "default/en".into()
            })
            .classify()
            .class(),
            ErrorClass::Permanent
        );
        assert_eq!(SmsError::NoSender.classify().class(), ErrorClass::Permanent);
    }
}
