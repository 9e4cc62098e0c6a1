//! Twilio's error responses: `{code, message, more_info, status}` as JSON, exactly the shape
//! worker code parses from real Twilio.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde_json::json;

use crate::injector::Injected;

/// One Twilio error answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TwilioError {
    status: u16,
    code: u32,
    message: String,
    retry_after_secs: Option<u64>,
}

impl TwilioError {
    /// An error with Twilio's `code` and `message`, answered with HTTP `status`.
    pub(crate) fn new(status: u16, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// Missing or wrong credentials.
    pub(crate) fn authenticate() -> Self {
        Self::new(401, 20003, "Authenticate")
    }

    /// A path that names no resource (including another account's).
    pub(crate) fn not_found(path: &str) -> Self {
        Self::new(
            404,
            20404,
            format!("The requested resource {path} was not found"),
        )
    }

    /// The answer for an injected fault.
    pub(crate) fn injected(fault: Injected) -> Self {
        match fault {
            Injected::Status(status) => Self::for_status(status),
            Injected::RateLimited { retry_after_secs } => Self {
                retry_after_secs: Some(retry_after_secs),
                ..Self::for_status(429)
            },
        }
    }

    /// The HTTP status this error is answered with.
    #[cfg(test)]
    pub(crate) fn status(&self) -> u16 {
        self.status
    }

    /// Twilio's error code, e.g. 21211.
    #[cfg(test)]
    pub(crate) fn code(&self) -> u32 {
        self.code
    }

    /// Twilio's generic body for a bare HTTP status. Twilio's 20xxx codes mirror the HTTP
    /// status where one exists; the rest fall back to the generic code of their class.
    fn for_status(status: u16) -> Self {
        let (code, message) = match status {
            401 => (20003, "Authenticate"),
            403 => (20403, "Forbidden"),
            404 => (20404, "The requested resource was not found"),
            405 => (20004, "Method not allowed"),
            429 => (20429, "Too Many Requests"),
            500 => (20500, "Internal Server Error"),
            503 => (20503, "Service Unavailable"),
            400..=499 => (20001, reason(status)),
            _ => (20500, reason(status)),
        };
        Self::new(status, code, message)
    }
}

/// The standard reason phrase, for statuses without a Twilio-specific message.
pub(crate) fn reason(status: u16) -> &'static str {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

impl IntoResponse for TwilioError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status,
        });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after_secs {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            // Real Twilio sends the challenge too; some HTTP clients only retry with
            // credentials after seeing it.
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Twilio API\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_statuses_get_twilio_codes() {
        assert_eq!(TwilioError::injected(Injected::Status(503)).code, 20503);
        assert_eq!(TwilioError::injected(Injected::Status(500)).code, 20500);
        let other = TwilioError::injected(Injected::Status(502));
        assert_eq!((other.code, other.message.as_str()), (20500, "Bad Gateway"));
        let limited = TwilioError::injected(Injected::RateLimited {
            retry_after_secs: 3,
        });
        assert_eq!((limited.status, limited.code), (429, 20429));
        assert_eq!(limited.retry_after_secs, Some(3));
    }

    #[test]
    fn response_carries_json_body_and_retry_after() {
        let response = TwilioError::injected(Injected::RateLimited {
            retry_after_secs: 9,
        })
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "9");
        assert_eq!(
            response.headers()[http::header::CONTENT_TYPE],
            "application/json"
        );
    }
}
