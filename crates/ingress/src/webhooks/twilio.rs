//! `POST /webhooks/twilio/status`: Twilio's message status callback. Verified with
//! `X-Twilio-Signature` over the public URL Twilio called (configured, because behind a proxy
//! the URL we see is not the one Twilio signed) plus the form parameters, then published as
//! `sms.status`. Twilio signs no timestamp, so a replayed callback cannot be told from a late
//! one; replays are harmless instead: the envelope id is derived from (MessageSid, status), so a
//! replay is a duplicate, and the delivery record never moves backwards.
//!
//! Bad signatures are `403` here (the answer this route always gave), `401` on the other
//! webhook routes.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;
use switchyard_contract::Envelope;
use switchyard_contract::signature::twilio;

use super::verifier::{Inbound, Refusal};
use crate::problem::Problem;
use crate::{AppState, publish};

/// Twilio's verifier: the auth token and the URL Twilio signed.
#[derive(Debug)]
pub struct Twilio<'a> {
    /// The account's auth token.
    pub auth_token: &'a str,
    /// The public URL of this request.
    pub url: String,
}

impl Twilio<'_> {
    /// The callback's form parameters, once the signature holds.
    pub fn verify(&self, request: &Inbound<'_>) -> Result<Vec<(String, String)>, Refusal> {
        let params: Vec<(String, String)> =
            serde_urlencoded::from_bytes(request.body).map_err(|e| {
                Refusal::BadBody(format!("expected a form-encoded Twilio callback: {e}"))
            })?;
        let signature = request.header("x-twilio-signature").unwrap_or("");
        if !twilio::verify(self.auth_token, &self.url, &params, signature) {
            return Err(Refusal::BadSignature);
        }
        Ok(params)
    }
}

/// Handles one status callback.
pub async fn status(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let verifier = Twilio {
        auth_token: &state.config.twilio_auth_token,
        url: format!(
            "{}{path}",
            state.config.public_base_url.trim_end_matches('/')
        ),
    };
    let request = Inbound {
        headers: &headers,
        query: uri.query(),
        body: &body,
        now: Utc::now().timestamp(),
    };
    let params = verifier.verify(&request).map_err(|refusal| {
        state.metrics.webhook("twilio", refusal.result());
        refused(&verifier.url, refusal)
    })?;
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
    state.metrics.webhook("twilio", "accepted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn refused(url: &str, refusal: Refusal) -> Problem {
    match refusal {
        Refusal::BadBody(detail) => Problem::malformed(detail),
        Refusal::MissingHeader(_)
        | Refusal::BadHeader(_)
        | Refusal::BadSignature
        | Refusal::Stale { .. }
        | Refusal::Unavailable(_) => {
            tracing::warn!(%url, "rejected a Twilio callback with a bad signature");
            Problem::new(
                StatusCode::FORBIDDEN,
                "bad-signature",
                "Invalid signature",
                "X-Twilio-Signature does not match this request; check the Twilio auth token and \
                 that SWITCHYARD_PUBLIC_URL is the URL Twilio calls",
            )
        }
    }
}
