//! `application/problem+json` (RFC 9457): every error the ingress returns, with the failing
//! field paths when there are any, so a caller can fix its request without reading our code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchyard_contract::FieldError;

/// One problem response.
#[derive(Debug, Serialize)]
pub struct Problem {
    /// A URI naming the problem type (stable, documented in the README).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong with this request and what to do.
    pub detail: String,
    /// Failing fields, as JSON pointers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// Seconds to wait before retrying (503 only); also sent as `Retry-After`.
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

/// One failing field.
#[derive(Debug, Serialize)]
pub struct FieldProblem {
    /// JSON pointer, e.g. `/payload/to`.
    pub pointer: String,
    /// What is wrong.
    pub detail: String,
}

impl Problem {
    /// A problem of type `slug` (documented at `https://switchyard.dev/problems/<slug>`).
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("https://switchyard.dev/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// Adds failing fields.
    pub fn with_fields(mut self, fields: Vec<FieldError>) -> Self {
        self.errors = fields
            .into_iter()
            .map(|f| FieldProblem {
                pointer: f.pointer,
                detail: f.message,
            })
            .collect();
        self
    }

    /// 400: the body is not valid JSON / not the expected shape.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-body",
            "Malformed request body",
            detail,
        )
    }

    /// 422: well-formed but invalid.
    pub fn invalid(detail: impl Into<String>, fields: Vec<FieldError>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-failed",
            "Validation failed",
            detail,
        )
        .with_fields(fields)
    }

    /// 503 with `Retry-After`: the broker or database is unavailable; nothing was accepted.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut p = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Temporarily unavailable",
            detail,
        );
        p.retry_after = Some(5);
        p
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.retry_after;
        let body = serde_json::to_vec(&self).expect("a problem always serialises");
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"switchyard\""),
            );
        }
        response
    }
}
