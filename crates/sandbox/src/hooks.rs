//! Test hooks under `/_sandbox`: the steps a real customer takes in a browser (paying a
//! Stripe Checkout, approving a PayPal order), so tests and demos in other processes can
//! complete a payment. Not provider routes: never faulted, never in the request record.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde_json::json;

use crate::error::HookError;
use crate::state::AppState;

/// The hook routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/_sandbox/stripe/checkout/sessions/{id}",
            get(stripe_session),
        )
        .route(
            "/_sandbox/stripe/checkout/sessions/{id}/pay",
            post(stripe_pay),
        )
        .route("/_sandbox/paypal/checkoutnow", get(paypal_approval))
        .route("/_sandbox/paypal/orders/{id}/capture", post(paypal_capture))
}

/// `GET` of a session's `url`: where a browser would land; says how to pay it.
async fn stripe_session(Path(id): Path<String>) -> String {
    format!(
        "Sandbox Stripe Checkout {id}: POST /_sandbox/stripe/checkout/sessions/{id}/pay to pay it.\n"
    )
}

/// `POST …/pay`: `{"payment_intent": "pi_…"}`.
async fn stripe_pay(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match crate::stripe::pay(&state, &id) {
        Ok(intent) => Json(json!({ "payment_intent": intent })).into_response(),
        Err(err) => problem(&err),
    }
}

/// `GET` of an order's `approve` link: where a payer would land; says how to approve it.
async fn paypal_approval() -> &'static str {
    "Sandbox PayPal approval: POST /_sandbox/paypal/orders/{token}/capture to approve and capture the order.\n"
}

/// `POST …/capture`: `{"capture_id": "…"}`.
async fn paypal_capture(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match crate::paypal::capture(&state, &id) {
        Ok(capture) => Json(json!({ "capture_id": capture })).into_response(),
        Err(err) => problem(&err),
    }
}

/// An RFC 9457 problem: 404 for an unknown object, 409 for one in the wrong state.
fn problem(err: &HookError) -> Response {
    let status = match err {
        HookError::Unknown { .. } => StatusCode::NOT_FOUND,
        HookError::WrongState { .. } => StatusCode::CONFLICT,
    };
    let body = json!({
        "type": "https://switchyard.dev/problems/sandbox-hook",
        "title": "the sandbox cannot do that",
        "status": status.as_u16(),
        "detail": err.to_string(),
    });
    let content_type = [(CONTENT_TYPE, "application/problem+json")];
    (status, content_type, body.to_string()).into_response()
}
