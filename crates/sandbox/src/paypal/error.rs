//! PayPal's error bodies: `{name, message, debug_id, details: [{field, value, location, issue,
//! description}], links}`, and the OAuth endpoint's own `{error, error_description}`.

use axum::response::Response;
use serde_json::{Value, json};

use crate::idempotency::Reply;
use crate::injector::Injected;
use crate::pipeline::{fault_response, random_id};

/// One PayPal error answer.
#[derive(Clone, Debug)]
pub(crate) struct PayPalError {
    status: u16,
    name: &'static str,
    message: &'static str,
    details: Vec<Value>,
}

const INVALID_REQUEST: &str =
    "Request is not well-formed, syntactically incorrect, or violates schema.";
const UNPROCESSABLE: &str = "The requested action could not be performed, semantically incorrect, or failed business validation.";

impl PayPalError {
    /// 400 `INVALID_REQUEST` about body `field` (a JSON pointer, as PayPal writes it).
    pub(crate) fn invalid(
        field: &str,
        value: Option<&str>,
        issue: &str,
        description: &str,
    ) -> Self {
        let mut detail = json!({
            "field": field, "location": "body", "issue": issue, "description": description,
        });
        if let Some(value) = value {
            detail["value"] = value.into();
        }
        Self {
            status: 400,
            name: "INVALID_REQUEST",
            message: INVALID_REQUEST,
            details: vec![detail],
        }
    }

    /// 400 for a required `field` that is missing.
    pub(crate) fn missing(field: &str) -> Self {
        let description = "A required field / parameter is missing.";
        Self::invalid(field, None, "MISSING_REQUIRED_PARAMETER", description)
    }

    /// 422 `UNPROCESSABLE_ENTITY` with `issue`: the request was understood and refused.
    pub(crate) fn unprocessable(issue: &str, description: &str) -> Self {
        Self {
            status: 422,
            name: "UNPROCESSABLE_ENTITY",
            message: UNPROCESSABLE,
            details: vec![json!({ "issue": issue, "description": description })],
        }
    }

    /// 404 for an id that names nothing.
    pub(crate) fn not_found() -> Self {
        let description =
            "Specified resource ID does not exist. Please check the resource ID and try again.";
        Self {
            status: 404,
            name: "RESOURCE_NOT_FOUND",
            message: "The specified resource does not exist.",
            details: vec![json!({ "issue": "INVALID_RESOURCE_ID", "description": description })],
        }
    }

    /// 401 for a missing, unknown or expired access token.
    pub(crate) fn authentication() -> Self {
        Self {
            status: 401,
            name: "AUTHENTICATION_FAILURE",
            message: "Authentication failed due to invalid authentication credentials or a missing Authorization header.",
            details: Vec::new(),
        }
    }

    /// 409 while the first request with a `PayPal-Request-Id` is still running.
    pub(crate) fn in_progress() -> Self {
        Self {
            status: 409,
            name: "RESOURCE_CONFLICT",
            message: "The server has detected a conflict while processing this request.",
            details: vec![json!({
                "issue": "PREVIOUS_REQUEST_IN_PROGRESS",
                "description": "A previous request on this resource is currently in progress. Please wait for some time and try again.",
            })],
        }
    }

    /// The answer for an injected fault, named as PayPal names the status.
    pub(crate) fn injected(fault: Injected) -> Response {
        fault_response(fault, |status| {
            let (name, message) = match status {
                429 => (
                    "RATE_LIMIT_REACHED",
                    "Too many requests. Blocked due to rate limiting.",
                ),
                503 => ("SERVICE_UNAVAILABLE", "Service Unavailable."),
                500..=599 => (
                    "INTERNAL_SERVER_ERROR",
                    "An internal server error has occurred.",
                ),
                401 => ("AUTHENTICATION_FAILURE", "Authentication failed."),
                403 => (
                    "NOT_AUTHORIZED",
                    "Authorization failed due to insufficient permissions.",
                ),
                404 => (
                    "RESOURCE_NOT_FOUND",
                    "The specified resource does not exist.",
                ),
                422 => ("UNPROCESSABLE_ENTITY", UNPROCESSABLE),
                _ => ("INVALID_REQUEST", INVALID_REQUEST),
            };
            let details = Vec::new();
            Self {
                status,
                name,
                message,
                details,
            }
            .reply()
        })
    }

    /// The error as a replayable answer.
    pub(crate) fn reply(self) -> Reply {
        let anchor = self
            .details
            .first()
            .and_then(|d| d["issue"].as_str())
            .unwrap_or(self.name);
        let mut body = json!({
            "name": self.name,
            "message": self.message,
            "debug_id": random_id(b"0123456789abcdef", 13),
            "links": [{
                "href": format!("https://developer.paypal.com/docs/api/errors/#{anchor}"),
                "rel": "information_link",
                "method": "GET",
            }],
        });
        if !self.details.is_empty() {
            body["details"] = Value::Array(self.details);
        }
        Reply::json(self.status, body)
    }
}

/// The OAuth endpoint's error: `{"error", "error_description"}`.
pub(crate) fn oauth(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        json!({ "error": error, "error_description": description }),
    )
}
