//! The push worker's errors, their one classification, and the one decision of which
//! provider answers mean the device token is gone for good.
//!
//! FCM: <https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode>.
//! APNs: "Handling notification responses from APNs" in Apple's developer documentation.

use std::time::Duration;

use switchyard_broker::PublishError;
use switchyard_contract::{Classify, Failure};
use switchyard_runtime::http;
use switchyard_store::StoreError;
use switchyard_templates::RenderError;

use crate::job::Platform;
use crate::jwt::KeyError;

/// FCM's `details[].errorCode`, the part of an FCM error that says what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FcmErrorCode {
    /// The token is no longer valid (app uninstalled, token expired).
    Unregistered,
    /// The request is malformed (bad token format, payload too large, bad field).
    InvalidArgument,
    /// The token belongs to another Firebase project.
    SenderIdMismatch,
    /// The APNs certificate or web push key configured in Firebase is invalid.
    ThirdPartyAuthError,
    /// Sending limit exceeded (per project, device or topic).
    QuotaExceeded,
    /// FCM had an internal error.
    Internal,
    /// FCM is overloaded.
    Unavailable,
    /// `UNSPECIFIED_ERROR`, or a code FCM added after this was written.
    Other(String),
}

impl FcmErrorCode {
    /// Parses FCM's upper-case code.
    pub fn parse(code: &str) -> Self {
        match code {
            "UNREGISTERED" => Self::Unregistered,
            "INVALID_ARGUMENT" => Self::InvalidArgument,
            "SENDER_ID_MISMATCH" => Self::SenderIdMismatch,
            "THIRD_PARTY_AUTH_ERROR" => Self::ThirdPartyAuthError,
            "QUOTA_EXCEEDED" => Self::QuotaExceeded,
            "INTERNAL" => Self::Internal,
            "UNAVAILABLE" => Self::Unavailable,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// Everything that can go wrong delivering a push. `Display` never shows a device token or a
/// credential.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// FCM answered with an error status.
    #[error("FCM answered {status}{}: {message}", code.as_ref().map(|c| format!(" ({c:?})")).unwrap_or_default())]
    Fcm {
        /// HTTP status.
        status: u16,
        /// `details[].errorCode`, when the body had one.
        code: Option<FcmErrorCode>,
        /// FCM's `error.message`.
        message: String,
        /// `Retry-After`, if sent.
        retry_after: Option<Duration>,
    },
    /// FCM refused a freshly minted access token too: the service account lacks the
    /// permission, or belongs to another project.
    #[error(
        "FCM refused the service account's access token (401 twice, the second with a fresh token); check the service account and its project"
    )]
    FcmUnauthenticated,
    /// The OAuth token endpoint refused the JWT bearer grant.
    #[error("the OAuth token endpoint answered {status}: {error}")]
    OAuth {
        /// HTTP status.
        status: u16,
        /// `error` and `error_description` of the OAuth error body.
        error: String,
        /// `Retry-After`, if sent.
        retry_after: Option<Duration>,
    },
    /// No answer from the OAuth token endpoint.
    #[error("no response from the OAuth token endpoint: {0}")]
    OAuthTransport(#[source] reqwest::Error),
    /// APNs answered with an error status.
    #[error("APNs answered {status}: {reason}")]
    Apns {
        /// HTTP status.
        status: u16,
        /// Apple's `reason`, e.g. `BadDeviceToken`.
        reason: String,
        /// `Retry-After`, if sent.
        retry_after: Option<Duration>,
    },
    /// APNs refused a freshly signed provider token too: wrong key id, team id or key.
    #[error(
        "APNs refused the provider token ({reason}) also after signing a fresh one; check SWITCHYARD_APNS_KEY, _KEY_ID and _TEAM_ID"
    )]
    ApnsProviderToken {
        /// Apple's `reason`: `InvalidProviderToken`, `ExpiredProviderToken`, ….
        reason: String,
    },
    /// No (complete) answer from FCM or APNs to a send.
    #[error("no response from {provider}: {source}")]
    Transport {
        /// `fcm` or `apns`.
        provider: &'static str,
        /// What reqwest saw.
        #[source]
        source: reqwest::Error,
    },
    /// A 2xx whose body or headers were not what the provider documents. The push was
    /// probably sent, so this is not retried.
    #[error("unexpected response from {provider}: {detail}")]
    UnexpectedResponse {
        /// `fcm`, `apns` or `oauth`.
        provider: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A credential could not be used to sign.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// No provider is configured for the message's platform.
    #[error(
        "no provider is configured for {0} devices (FCM serves android and web, APNs serves ios)"
    )]
    PlatformNotConfigured(Platform),
    /// The template is unknown, needs a variable the message lacks, or failed to render.
    #[error(transparent)]
    Template(#[from] RenderError),
    /// The message gives `template` together with `title`/`body` (the schema forbids it; a
    /// message published straight to AMQP may still try).
    #[error("the message gives both a template and a literal title/body")]
    AmbiguousContent,
    /// The provider reported this token gone earlier: sending to it again cannot succeed.
    #[error(
        "the device token was reported invalid by the provider earlier; the app must register a new one"
    )]
    TokenInvalidated,
    /// Postgres failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The `push.token_invalidated` event could not be published.
    #[error("publishing push.token_invalidated: {0}")]
    Publish(#[from] PublishError),
}

// A new variant must be classified on purpose: no wildcard arm may swallow it.
#[deny(clippy::wildcard_enum_match_arm)]
impl Classify for PushError {
    fn classify(&self) -> Failure {
        match self {
            PushError::Fcm {
                status,
                code,
                retry_after,
                ..
            } => classify_fcm(*status, code.as_ref(), *retry_after),
            PushError::FcmUnauthenticated => Failure::Permanent {
                code: "fcm_auth_failed",
            },
            // 4xx: the grant itself is wrong (bad key, unknown account): a configuration error.
            PushError::OAuth {
                status,
                retry_after,
                ..
            } => match http::classify_status(*status, *retry_after) {
                Failure::Permanent { .. } => Failure::Permanent {
                    code: "oauth_grant_refused",
                },
                other @ (Failure::Retryable { .. }
                | Failure::RateLimited { .. }
                | Failure::OutcomeUnknown { .. }) => other,
            },
            // Asking for a token has no side effect: always safe to retry.
            PushError::OAuthTransport(e) => http::classify_transport(e, true),
            PushError::Apns {
                status,
                reason,
                retry_after,
            } => classify_apns(*status, reason, *retry_after),
            PushError::ApnsProviderToken { .. } => Failure::Permanent {
                code: "apns_provider_token_rejected",
            },
            // Sending is not idempotent at FCM or APNs: a timed-out send is not blindly retried.
            PushError::Transport { source, .. } => http::classify_transport(source, false),
            PushError::UnexpectedResponse { .. } => Failure::Permanent {
                code: "unexpected_response",
            },
            PushError::Key(_) => Failure::Permanent {
                code: "push_credentials_unusable",
            },
            PushError::PlatformNotConfigured(_) => Failure::Permanent {
                code: "platform_not_configured",
            },
            PushError::Template(e) => Failure::Permanent {
                code: template_code(e),
            },
            PushError::AmbiguousContent => Failure::Permanent {
                code: "ambiguous_content",
            },
            PushError::TokenInvalidated => Failure::Permanent {
                code: "token_invalidated",
            },
            PushError::Store(_) => Failure::Retryable {
                code: "store_unavailable",
                retry_after: None,
            },
            PushError::Publish(_) => Failure::Retryable {
                code: "event_publish_failed",
                retry_after: None,
            },
        }
    }
}

impl PushError {
    /// Why the provider says the device token is gone for good, if it does: only then is a
    /// `push.token_invalidated` event published and the token refused from then on. A
    /// provider-token or project problem is ours, never the device's.
    pub fn token_gone(&self) -> Option<&'static str> {
        match self {
            PushError::Fcm {
                code: Some(FcmErrorCode::Unregistered),
                ..
            } => Some("unregistered"),
            PushError::Apns { status: 410, .. } => Some("unregistered"),
            PushError::Apns {
                status: 400,
                reason,
                ..
            } if reason == "BadDeviceToken" => Some("bad_device_token"),
            _ => None,
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

/// FCM's error code first, the shared HTTP mapping when it gives none we know.
#[deny(clippy::wildcard_enum_match_arm)]
fn classify_fcm(
    status: u16,
    code: Option<&FcmErrorCode>,
    retry_after: Option<Duration>,
) -> Failure {
    let permanent = |code| Failure::Permanent { code };
    match code {
        Some(FcmErrorCode::Unregistered) => permanent("token_unregistered"),
        Some(FcmErrorCode::InvalidArgument) => permanent("invalid_argument"),
        Some(FcmErrorCode::SenderIdMismatch) => permanent("sender_id_mismatch"),
        Some(FcmErrorCode::ThirdPartyAuthError) => permanent("third_party_auth_error"),
        Some(FcmErrorCode::QuotaExceeded) => Failure::RateLimited {
            code: "quota_exceeded",
            retry_after,
        },
        Some(FcmErrorCode::Internal) => Failure::Retryable {
            code: "provider_internal",
            retry_after,
        },
        Some(FcmErrorCode::Unavailable) => Failure::Retryable {
            code: "provider_unavailable",
            retry_after,
        },
        Some(FcmErrorCode::Other(_)) | None => http::classify_status(status, retry_after),
    }
}

/// APNs: the status decides, except for the reasons that say more than it.
fn classify_apns(status: u16, reason: &str, retry_after: Option<Duration>) -> Failure {
    match (status, reason) {
        (410, _) => Failure::Permanent {
            code: "token_unregistered",
        },
        (400, "BadDeviceToken") => Failure::Permanent {
            code: "bad_device_token",
        },
        (400, "DeviceTokenNotForTopic") => Failure::Permanent {
            code: "device_token_not_for_topic",
        },
        (400, "PayloadTooLarge") | (413, _) => Failure::Permanent {
            code: "payload_too_large",
        },
        (403, _) => Failure::Permanent {
            code: "apns_forbidden",
        },
        _ => http::classify_status(status, retry_after),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_contract::ErrorClass;

    fn fcm(status: u16, code: &str) -> PushError {
        PushError::Fcm {
            status,
            code: Some(FcmErrorCode::parse(code)),
            message: String::new(),
            retry_after: Some(Duration::from_secs(4)),
        }
    }

    fn apns(status: u16, reason: &str) -> PushError {
        PushError::Apns {
            status,
            reason: reason.into(),
            retry_after: Some(Duration::from_secs(4)),
        }
    }

    #[test]
    fn fcm_error_codes_decide() {
        for code in [
            "UNREGISTERED",
            "INVALID_ARGUMENT",
            "SENDER_ID_MISMATCH",
            "THIRD_PARTY_AUTH_ERROR",
        ] {
            assert_eq!(
                fcm(400, code).classify().class(),
                ErrorClass::Permanent,
                "{code}"
            );
        }
        let quota = fcm(429, "QUOTA_EXCEEDED").classify();
        assert_eq!(quota.class(), ErrorClass::RateLimited);
        assert_eq!(quota.retry_after(), Some(Duration::from_secs(4)));
        for code in ["INTERNAL", "UNAVAILABLE"] {
            let failure = fcm(503, code).classify();
            assert_eq!(failure.class(), ErrorClass::Retryable, "{code}");
            assert_eq!(failure.retry_after(), Some(Duration::from_secs(4)));
        }
        assert_eq!(
            fcm(502, "UNSPECIFIED_ERROR").classify().class(),
            ErrorClass::Retryable
        );
        assert_eq!(fcm(404, "UNREGISTERED").token_gone(), Some("unregistered"));
        assert_eq!(fcm(400, "INVALID_ARGUMENT").token_gone(), None);
    }

    #[test]
    fn apns_statuses_and_reasons_decide() {
        assert_eq!(
            apns(410, "Unregistered").classify().code(),
            "token_unregistered"
        );
        assert_eq!(
            apns(400, "BadDeviceToken").classify().code(),
            "bad_device_token"
        );
        for status in [429, 500, 503] {
            assert_ne!(
                apns(status, "x").classify().class(),
                ErrorClass::Permanent,
                "{status}"
            );
        }
        assert_eq!(apns(410, "Unregistered").token_gone(), Some("unregistered"));
        assert_eq!(
            apns(400, "BadDeviceToken").token_gone(),
            Some("bad_device_token")
        );
        assert_eq!(apns(400, "BadTopic").token_gone(), None);
        assert_eq!(apns(403, "InvalidProviderToken").token_gone(), None);
        let config = PushError::ApnsProviderToken {
            reason: "InvalidProviderToken".into(),
        };
        assert_eq!(config.classify().class(), ErrorClass::Permanent);
        assert_eq!(config.token_gone(), None);
    }

    #[test]
    fn oauth_refusals_are_configuration_errors_and_outages_retry() {
        let refused = PushError::OAuth {
            status: 400,
            error: "invalid_grant".into(),
            retry_after: None,
        };
        assert_eq!(refused.classify().code(), "oauth_grant_refused");
        let down = PushError::OAuth {
            status: 503,
            error: String::new(),
            retry_after: None,
        };
        assert_eq!(down.classify().class(), ErrorClass::Retryable);
    }
}
