//! The admin API under `/_sandbox`: read the record, clear it, read and replace the faults,
//! so demos and tests in other processes can drive the sandbox over HTTP.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde_json::json;

use crate::faults::FaultConfig;
use crate::record::{RecordedCallback, RecordedRequest};
use crate::state::AppState;

/// Every admin path starts with this, so it can never collide with a provider path.
pub(crate) const PREFIX: &str = "/_sandbox";

/// The admin routes and `/healthz`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/_sandbox/requests", get(list_requests).delete(clear))
        .route("/_sandbox/callbacks", get(list_callbacks))
        .route("/_sandbox/faults", get(get_faults).put(put_faults))
        .route("/healthz", get(|| async { "ok" }))
}

/// `GET /_sandbox/requests`.
async fn list_requests(State(state): State<AppState>) -> Json<Vec<RecordedRequest>> {
    Json(state.record.requests())
}

/// `DELETE /_sandbox/requests`: forgets requests and callbacks alike, so a test starts clean.
async fn clear(State(state): State<AppState>) -> StatusCode {
    state.record.clear();
    StatusCode::NO_CONTENT
}

/// `GET /_sandbox/callbacks`.
async fn list_callbacks(State(state): State<AppState>) -> Json<Vec<RecordedCallback>> {
    Json(state.record.callbacks())
}

/// `GET /_sandbox/faults`.
async fn get_faults(State(state): State<AppState>) -> Json<FaultConfig> {
    Json(state.faults())
}

/// `PUT /_sandbox/faults`: replaces all faults, or changes nothing and says which field is
/// wrong. Parsed by hand rather than with `Json<_>` so every refusal is problem+json.
async fn put_faults(State(state): State<AppState>, body: Bytes) -> Response {
    let faults: FaultConfig = match serde_json::from_slice(&body) {
        Ok(faults) => faults,
        Err(err) => {
            return problem(
                "the body is not a valid fault configuration",
                &err.to_string(),
            );
        }
    };
    if let Err(err) = faults.validate() {
        return problem("a fault value is out of range", &err.to_string());
    }
    state.set_faults(faults.clone());
    tracing::info!(?faults, "sandbox faults replaced");
    Json(faults).into_response()
}

/// An RFC 9457 problem with status 400.
fn problem(title: &str, detail: &str) -> Response {
    let body = json!({
        "type": "https://switchyard.dev/problems/invalid-faults",
        "title": title,
        "status": 400,
        "detail": detail,
    });
    let content_type = [(CONTENT_TYPE, "application/problem+json")];
    (StatusCode::BAD_REQUEST, content_type, body.to_string()).into_response()
}
