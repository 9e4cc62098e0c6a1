//! The email worker's errors and their one classification. SMTP reply codes: RFC 5321 §4.2
//! (4yz transient, 5yz permanent) and RFC 4954 (535: credentials refused).

use switchyard_contract::{Classify, Failure};
use switchyard_store::StoreError;
use switchyard_templates::RenderError;

use crate::relay::RelayRole;

/// The step of the SMTP transaction a failure happened in: it decides what the failure
/// means (a 550 to RCPT is about the recipient; silence after DATA may be a sent message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// TCP, greeting, EHLO, STARTTLS.
    Connect,
    /// AUTH.
    Auth,
    /// MAIL FROM.
    Mail,
    /// RCPT TO (one per recipient).
    Rcpt,
    /// The DATA command.
    Data,
    /// The message content and its final `.`: from here the relay may have queued it.
    Content,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Connect => "connecting",
            Stage::Auth => "AUTH",
            Stage::Mail => "MAIL FROM",
            Stage::Rcpt => "RCPT TO",
            Stage::Data => "DATA",
            Stage::Content => "the end of DATA",
        }
    }
}

/// What went wrong in an SMTP step.
#[derive(Debug)]
pub enum Cause {
    /// The relay answered with a negative reply.
    Reply {
        /// The reply code (4yz or 5yz).
        code: u16,
        /// lettre's rendering of the reply, addresses masked.
        text: String,
    },
    /// No (complete) reply: connection refused, dropped, timed out, TLS failed.
    NoReply(String),
    /// The relay and we cannot talk (no common AUTH mechanism, no STARTTLS offered).
    Incompatible(String),
}

impl From<lettre::transport::smtp::Error> for Cause {
    fn from(error: lettre::transport::smtp::Error) -> Self {
        let text = mask_addresses(&error.to_string());
        match error.status() {
            Some(code) => Cause::Reply {
                code: code.into(),
                text,
            },
            None if error.is_client() => Cause::Incompatible(text),
            None => Cause::NoReply(text),
        }
    }
}

/// A failed SMTP transaction with one relay.
#[derive(Debug, thiserror::Error)]
#[error("SMTP relay {} at {}: {}", relay.as_str(), stage.as_str(), describe(cause))]
pub struct SmtpError {
    /// Which relay.
    pub relay: RelayRole,
    /// Where in the transaction.
    pub stage: Stage,
    /// What happened.
    pub cause: Cause,
}

fn describe(cause: &Cause) -> String {
    match cause {
        Cause::Reply { text, .. } => text.clone(),
        Cause::NoReply(text) => format!("no reply ({text})"),
        Cause::Incompatible(text) => {
            format!("{text}; check the relay URL and its TLS/AUTH settings")
        }
    }
}

/// Everything that can go wrong sending an email. `Display` never shows a full address.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// A relay refused or lost the message.
    #[error(transparent)]
    Smtp(#[from] SmtpError),
    /// A subject, name, address or header value carries CR or LF: it could inject headers.
    #[error("{field} contains a line break, which could inject headers; remove it")]
    InvalidHeader {
        /// The payload field, e.g. `subject` or `headers.X-Trace`.
        field: String,
    },
    /// A custom header that is not `X-…` nor on the allow-list.
    #[error("header {name} may not be set by a message; use an X- header or one of {}", crate::compose::ALLOWED_HEADERS.join(", "))]
    HeaderNotAllowed {
        /// The header name.
        name: String,
    },
    /// An address lettre cannot parse.
    #[error("{field} is not a valid email address")]
    InvalidAddress {
        /// The payload field, e.g. `to[1]`.
        field: String,
    },
    /// An attachment is not valid base64 or has an unusable content type.
    #[error("attachment {filename}: {reason}")]
    InvalidAttachment {
        /// The file name.
        filename: String,
        /// What is wrong.
        reason: String,
    },
    /// The attachments together exceed the configured limit.
    #[error(
        "attachments total {total} bytes, over the limit of {limit} bytes; link large files instead"
    )]
    AttachmentsTooLarge {
        /// Decoded bytes.
        total: usize,
        /// `SWITCHYARD_EMAIL_ATTACHMENT_LIMIT`.
        limit: usize,
    },
    /// `{"storage": …}` attachments need the storage integration, which does not exist yet.
    #[error(
        "attachment {filename} is a storage reference, but the storage integration is not there yet; send the content inline as base64"
    )]
    StorageNotSupported {
        /// The file name.
        filename: String,
    },
    /// The template is unknown, lacks a variable, or failed to render.
    #[error(transparent)]
    Template(#[from] RenderError),
    /// Neither a subject with a body nor a template (the schema forbids it; AMQP may not).
    #[error("the message needs a subject with text or html, or a template")]
    NoContent,
    /// lettre refused to build the message.
    #[error("cannot build the message: {0}")]
    Build(String),
    /// No relay is configured (a programming error: the worker is built with one).
    #[error("no SMTP relay configured; set SWITCHYARD_SMTP_URL")]
    NoRelay,
    /// No sender: neither the tenant settings nor `SWITCHYARD_SMTP_FROM` give a valid one.
    #[error(
        "no valid sender for this tenant: {0}; set `from` in the tenant settings or SWITCHYARD_SMTP_FROM"
    )]
    NoSender(String),
    /// A fanned-out `email.send` of an `email.bulk` was not confirmed by RabbitMQ.
    #[error("publishing the email.send messages of a bulk: {0}")]
    FanOut(String),
    /// The worker was built without a publisher, so it cannot fan out `email.bulk`.
    #[error("this email worker cannot fan out email.bulk (built without a publisher)")]
    NoFanOut,
    /// Postgres failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

impl EmailError {
    /// Whether the relay, not the message, is at fault: such an error makes the worker try
    /// the other relay and counts against the relay's health.
    pub fn is_relay_fault(&self) -> bool {
        let EmailError::Smtp(e) = self else {
            return false;
        };
        match self.classify() {
            Failure::Retryable { .. } => true,
            Failure::Permanent { code } => {
                matches!(code, "smtp_auth_failed" | "smtp_relay_incompatible")
                    || e.stage == Stage::Connect
            }
            Failure::RateLimited { .. } | Failure::OutcomeUnknown { .. } => false,
        }
    }
}

// A new variant must be classified on purpose: no wildcard arm may swallow it.
#[deny(clippy::wildcard_enum_match_arm)]
impl Classify for EmailError {
    fn classify(&self) -> Failure {
        let permanent = |code| Failure::Permanent { code };
        match self {
            EmailError::Smtp(e) => classify_smtp(e),
            EmailError::InvalidHeader { .. } => permanent("invalid_header"),
            EmailError::HeaderNotAllowed { .. } => permanent("header_not_allowed"),
            EmailError::InvalidAddress { .. } => permanent("invalid_address"),
            EmailError::InvalidAttachment { .. } => permanent("invalid_attachment"),
            EmailError::AttachmentsTooLarge { .. } => permanent("attachments_too_large"),
            EmailError::StorageNotSupported { .. } => permanent("storage_not_supported"),
            EmailError::Template(e) => permanent(template_code(e)),
            EmailError::NoContent => permanent("no_content"),
            EmailError::Build(_) => permanent("build_failed"),
            EmailError::NoRelay => permanent("no_relay"),
            EmailError::NoSender(_) => permanent("no_sender"),
            // Published ids are deterministic: repeating the whole fan-out is harmless.
            EmailError::FanOut(_) => Failure::Retryable {
                code: "fan_out_unconfirmed",
                retry_after: None,
            },
            EmailError::NoFanOut => permanent("no_fan_out"),
            EmailError::Store(_) => Failure::Retryable {
                code: "store_unavailable",
                retry_after: None,
            },
        }
    }

    /// A relay refusing our credentials is broken for every message, not only this one: the
    /// message parks (retrying cannot fix a password), and the breaker counts it, so a few
    /// parked messages stop consumption instead of thousands.
    fn trips_breaker(&self) -> bool {
        self.is_relay_fault()
    }
}

/// SMTP failures by step and reply.
fn classify_smtp(error: &SmtpError) -> Failure {
    let retryable = |code| Failure::Retryable {
        code,
        retry_after: None,
    };
    match (&error.cause, error.stage) {
        // Nothing reached the relay, or it dropped us before the message was complete.
        (Cause::NoReply(_), Stage::Connect | Stage::Auth) => retryable("smtp_connect_failed"),
        (Cause::NoReply(_), Stage::Mail | Stage::Rcpt | Stage::Data) => {
            retryable("smtp_connection_lost")
        }
        // The message was complete and the answer never came: it may be queued. The retry
        // resends with the same Message-ID, so receivers can drop the copy.
        (Cause::NoReply(_), Stage::Content) => Failure::OutcomeUnknown {
            code: "smtp_no_reply_after_data",
        },
        (Cause::Incompatible(_), _) => Failure::Permanent {
            code: "smtp_relay_incompatible",
        },
        (Cause::Reply { code, .. }, stage) => classify_reply(*code, stage),
    }
}

/// A negative SMTP reply: 4yz is transient wherever it comes; 5yz depends on the step.
fn classify_reply(code: u16, stage: Stage) -> Failure {
    let permanent = |code| Failure::Permanent { code };
    match (code, stage) {
        (421, _) => Failure::Retryable {
            code: "smtp_service_unavailable",
            retry_after: None,
        },
        (400..=499, _) => Failure::Retryable {
            code: "smtp_temporary_failure",
            retry_after: None,
        },
        (535 | 534 | 530, _) | (_, Stage::Auth) => permanent("smtp_auth_failed"),
        (_, Stage::Rcpt) => permanent("recipient_rejected"),
        (_, Stage::Mail) => permanent("sender_rejected"),
        (_, Stage::Data | Stage::Content) => permanent("message_rejected"),
        (_, Stage::Connect) => permanent("relay_refused"),
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

/// Relays quote addresses back (`550 5.1.1 <ada@example.org>: unknown user`); logs and parked
/// reasons keep only their first letter and domain.
fn mask_addresses(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            if word.contains('@') {
                let bare = word.trim_matches(|c: char| "<>:;,()\"'".contains(c));
                word.replace(bare, &switchyard_telemetry::mask::email(bare))
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_contract::ErrorClass;

    fn reply(code: u16, stage: Stage) -> EmailError {
        EmailError::Smtp(SmtpError {
            relay: RelayRole::Primary,
            stage,
            cause: Cause::Reply {
                code,
                text: String::new(),
            },
        })
    }

    fn silence(stage: Stage) -> EmailError {
        EmailError::Smtp(SmtpError {
            relay: RelayRole::Primary,
            stage,
            cause: Cause::NoReply("connection reset".into()),
        })
    }

    #[test]
    fn transient_replies_retry_wherever_they_come() {
        for (code, stage) in [
            (421, Stage::Connect),
            (451, Stage::Rcpt),
            (452, Stage::Content),
            (450, Stage::Mail),
        ] {
            let failure = reply(code, stage).classify();
            assert_eq!(
                failure.class(),
                ErrorClass::Retryable,
                "{code} at {stage:?}"
            );
            assert!(!failure.outcome_unknown());
        }
        assert_eq!(
            reply(421, Stage::Rcpt).classify().code(),
            "smtp_service_unavailable"
        );
    }

    #[test]
    fn recipient_errors_are_permanent_and_not_the_relays_fault() {
        for code in [550, 551, 553] {
            let error = reply(code, Stage::Rcpt);
            assert_eq!(
                error.classify(),
                Failure::Permanent {
                    code: "recipient_rejected"
                }
            );
            assert!(!error.trips_breaker());
            assert!(!error.is_relay_fault());
        }
        assert_eq!(
            reply(554, Stage::Content).classify().code(),
            "message_rejected"
        );
        assert_eq!(reply(550, Stage::Mail).classify().code(), "sender_rejected");
    }

    #[test]
    fn refused_credentials_park_and_count_against_the_breaker() {
        let error = reply(535, Stage::Auth);
        assert_eq!(
            error.classify(),
            Failure::Permanent {
                code: "smtp_auth_failed"
            }
        );
        assert!(error.trips_breaker());
        assert!(error.is_relay_fault());
    }

    #[test]
    fn silence_after_the_message_is_an_unknown_outcome_before_it_a_retry() {
        assert!(silence(Stage::Content).classify().outcome_unknown());
        for stage in [
            Stage::Connect,
            Stage::Auth,
            Stage::Mail,
            Stage::Rcpt,
            Stage::Data,
        ] {
            let failure = silence(stage).classify();
            assert_eq!(failure.class(), ErrorClass::Retryable, "{stage:?}");
            assert!(!failure.outcome_unknown(), "{stage:?}");
        }
        assert!(silence(Stage::Connect).is_relay_fault());
        assert!(
            !silence(Stage::Content).is_relay_fault(),
            "never resent through the other relay"
        );
    }

    #[test]
    fn message_mistakes_park_without_blaming_the_relay() {
        let header = EmailError::InvalidHeader {
            field: "subject".into(),
        };
        assert_eq!(header.classify().code(), "invalid_header");
        assert!(!header.trips_breaker());
        let storage = EmailError::StorageNotSupported {
            filename: "a.pdf".into(),
        };
        assert_eq!(storage.classify().class(), ErrorClass::Permanent);
        assert!(
            storage
                .to_string()
                .contains("storage integration is not there yet")
        );
    }

    #[test]
    fn addresses_in_replies_are_masked() {
        let masked =
            mask_addresses("permanent error (550): 5.1.1 <ada.lovelace@example.org>: unknown");
        assert_eq!(
            masked,
            "permanent error (550): 5.1.1 <a***@example.org>: unknown"
        );
    }
}
