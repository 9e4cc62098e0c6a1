//! Stripe's error bodies: `{"error": {type, code?, param?, message, decline_code?}}`, the
//! shape Stripe's client libraries and a hand-written worker parse.

use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::idempotency::Reply;
use crate::injector::Injected;
use crate::pipeline::{fault_response, respond};

/// One Stripe error answer.
#[derive(Clone, Debug)]
pub(crate) struct StripeError {
    status: u16,
    kind: &'static str,
    code: Option<&'static str>,
    param: Option<String>,
    message: String,
    decline_code: Option<&'static str>,
}

impl StripeError {
    /// An `invalid_request_error` answered with `status`.
    pub(crate) fn invalid(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            kind: "invalid_request_error",
            code: None,
            param: None,
            message: message.into(),
            decline_code: None,
        }
    }

    /// Names the parameter at fault.
    pub(crate) fn param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// Sets Stripe's machine-readable `code`.
    pub(crate) fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// A required parameter that was not sent.
    pub(crate) fn missing(param: &str) -> Self {
        Self::invalid(400, format!("Missing required param: {param}."))
            .code("parameter_missing")
            .param(param)
    }

    /// A parameter that is not a (positive) integer.
    pub(crate) fn not_an_integer(param: &str, value: &str) -> Self {
        Self::invalid(400, format!("Invalid integer: {value}"))
            .code("parameter_invalid_integer")
            .param(param)
    }

    /// An unknown object, named in a parameter or the path.
    pub(crate) fn no_such(object: &str, param: &str, id: &str) -> Self {
        Self::invalid(404, format!("No such {object}: '{id}'"))
            .code("resource_missing")
            .param(param)
    }

    /// A declined card (402), as for Stripe's test card `4000 0000 0000 0002`.
    pub(crate) fn card_declined() -> Self {
        Self {
            status: 402,
            kind: "card_error",
            code: Some("card_declined"),
            param: None,
            message: "Your card was declined.".into(),
            decline_code: Some("generic_decline"),
        }
    }

    /// An idempotency key reused wrongly, answered with `status` (400 or 409).
    pub(crate) fn idempotency(status: u16, message: String) -> Self {
        Self {
            kind: "idempotency_error",
            ..Self::invalid(status, message)
        }
    }

    /// The answer for an injected fault: Stripe's `api_error` for 5xx, its `rate_limit` for 429.
    pub(crate) fn injected(fault: Injected) -> Response {
        fault_response(fault, |status| {
            let error = match status {
                429 => Self::invalid(429, "Request rate limit exceeded. Retry later.")
                    .code("rate_limit"),
                500..=599 => Self {
                    kind: "api_error",
                    ..Self::invalid(
                        status,
                        "An unknown error occurred while processing the request.",
                    )
                },
                _ => Self::invalid(status, crate::twilio::error::reason(status)),
            };
            error.reply()
        })
    }

    /// The error as a replayable answer.
    pub(crate) fn reply(self) -> Reply {
        let mut error = Map::new();
        error.insert("type".into(), self.kind.into());
        error.insert("message".into(), self.message.into());
        if let Some(code) = self.code {
            error.insert("code".into(), code.into());
            let doc = format!(
                "https://stripe.com/docs/error-codes/{}",
                code.replace('_', "-")
            );
            error.insert("doc_url".into(), doc.into());
        }
        if let Some(param) = self.param {
            error.insert("param".into(), param.into());
        }
        if let Some(decline) = self.decline_code {
            error.insert("decline_code".into(), decline.into());
        }
        Reply::json(self.status, json!({ "error": Value::Object(error) }))
    }
}

impl IntoResponse for StripeError {
    fn into_response(self) -> Response {
        respond(&self.reply())
    }
}
