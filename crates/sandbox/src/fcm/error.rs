//! Google's error answers: `{"error": {code, message, status, details: [{errorCode}]}}` for
//! FCM, `{error, error_description}` for the OAuth endpoint.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::header::RETRY_AFTER;
use http::{HeaderValue, StatusCode};
use serde_json::json;

use crate::injector::Injected;

/// An FCM v1 error.
#[derive(Debug)]
pub(crate) struct GoogleError {
    status: u16,
    message: String,
    error_code: Option<&'static str>,
    retry_after_secs: Option<u64>,
}

impl GoogleError {
    pub(crate) fn new(status: u16, message: &str, error_code: Option<&'static str>) -> Self {
        Self {
            status,
            message: message.to_owned(),
            error_code,
            retry_after_secs: None,
        }
    }

    /// A missing, unknown or expired access token.
    pub(crate) fn unauthenticated() -> Self {
        Self::new(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            None,
        )
    }

    /// The answer for a magic registration token, if `token` is one.
    pub(crate) fn for_magic_token(token: &str) -> Option<Self> {
        if token.starts_with("unregistered-") {
            Some(Self::new(
                404,
                "Requested entity was not found.",
                Some("UNREGISTERED"),
            ))
        } else if token.starts_with("invalid-") {
            Some(Self::new(
                400,
                "The registration token is not a valid FCM registration token",
                Some("INVALID_ARGUMENT"),
            ))
        } else if token.starts_with("mismatch-") {
            Some(Self::new(
                403,
                "SenderId mismatch",
                Some("SENDER_ID_MISMATCH"),
            ))
        } else {
            None
        }
    }

    /// The answer for an injected fault, with the errorCode FCM uses for that status.
    pub(crate) fn injected(fault: Injected) -> Self {
        match fault {
            Injected::Status(status) => {
                let code = match status {
                    400 => Some("INVALID_ARGUMENT"),
                    404 => Some("UNREGISTERED"),
                    429 => Some("QUOTA_EXCEEDED"),
                    500 => Some("INTERNAL"),
                    503 => Some("UNAVAILABLE"),
                    _ => None,
                };
                Self::new(status, reason(status), code)
            }
            Injected::RateLimited { retry_after_secs } => Self {
                retry_after_secs: Some(retry_after_secs),
                ..Self::new(429, "Quota exceeded.", Some("QUOTA_EXCEEDED"))
            },
        }
    }
}

/// Google's canonical status name for an HTTP status.
fn status_name(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        503 => "UNAVAILABLE",
        _ => "UNKNOWN",
    }
}

fn reason(status: u16) -> &'static str {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

impl IntoResponse for GoogleError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let details: Vec<_> = self
            .error_code
            .iter()
            .map(|code| {
                json!({
                    "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                    "errorCode": code,
                })
            })
            .collect();
        let body = json!({
            "error": {
                "code": self.status,
                "message": self.message,
                "status": status_name(self.status),
                "details": details,
            }
        });
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// An OAuth 2.0 token endpoint error (RFC 6749 §5.2), always 400 as Google answers them.
#[derive(Debug)]
pub(crate) struct OAuthError {
    error: &'static str,
    description: String,
}

impl OAuthError {
    pub(crate) fn new(error: &'static str, description: &str) -> Self {
        Self {
            error,
            description: description.to_owned(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}
