//! `POST /webhooks/twilio/status`: Twilio's message status callback. Verified with
//! `X-Twilio-Signature` over the public URL Twilio called (configured, because behind a proxy
//! the URL we see is not the one Twilio signed) plus the form parameters, then published as
//! `sms.status`. Twilio signs no timestamp, so a replayed callback cannot be told from a late
//! one; replays are harmless instead: the envelope id is derived from (MessageSid, status), so a
//! replay is a duplicate, and the delivery record never moves backwards.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;
use switchyard_contract::Envelope;
use switchyard_contract::signature::twilio;

use crate::problem::Problem;
use crate::{AppState, publish};

/// Handles one status callback.
pub async fn status(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|e| Problem::malformed(format!("expected a form-encoded Twilio callback: {e}")))?;
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let url = format!(
        "{}{path}",
        state.config.public_base_url.trim_end_matches('/')
    );
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !twilio::verify(&state.config.twilio_auth_token, &url, &params, signature) {
        tracing::warn!(%url, "rejected a Twilio callback with a bad signature");
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "bad-signature",
            "Invalid signature",
            "X-Twilio-Signature does not match this request; check the Twilio auth token and that \
             SWITCHYARD_PUBLIC_URL is the URL Twilio calls",
        ));
    }
    let find = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (Some(sid), Some(status)) = (find("MessageSid"), find("MessageStatus")) else {
        return Err(Problem::malformed(
            "a status callback needs MessageSid and MessageStatus",
        ));
    };
    let envelope = Envelope {
        id: format!("twilio-status-{sid}-{status}"),
        message_type: "sms.status".into(),
        tenant: None,
        occurred_at: Utc::now(),
        correlation_id: None,
        causation_id: None,
        idempotency_key: None,
        payload: json!({ "provider_ref": sid, "status": status, "error_code": find("ErrorCode") }),
    };
    // The id is built from MessageSid: a value no envelope may carry (a control character,
    // over 200 bytes) is refused here rather than parked later as undecodable.
    envelope
        .check()
        .map_err(|fields| Problem::invalid("MessageSid cannot identify a message", fields))?;
    switchyard_contract::catalogue::validate("sms.status", &envelope.payload)
        .map_err(|e| Problem::malformed(format!("unexpected callback content: {e}")))?;
    publish::envelope(&state, &envelope).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
