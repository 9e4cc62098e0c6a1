//! `POST /v1/messages` and `POST /v1/messages/batch`: authenticate, validate against the
//! message catalogue, publish with a confirm, and only then answer 202.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_contract::catalogue::{self, PayloadError};
use switchyard_contract::{Envelope, FieldError};
use switchyard_store::ApiKeyRecord;

use crate::problem::Problem;
use crate::{AppState, auth, publish};

/// Most messages in one batch request.
pub const MAX_BATCH: usize = 500;

/// What a publisher sends: the envelope, where `id` and `occurred_at` may be left to us.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingMessage {
    id: Option<String>,
    #[serde(rename = "type")]
    message_type: String,
    tenant: Option<String>,
    occurred_at: Option<DateTime<Utc>>,
    correlation_id: Option<String>,
    causation_id: Option<String>,
    idempotency_key: Option<String>,
    payload: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    messages: Vec<Value>,
}

/// 202 body.
#[derive(Debug, Serialize)]
pub struct Accepted {
    /// The message id (generated when the request had none).
    pub id: String,
}

/// One result of a batch.
#[derive(Debug, Serialize)]
struct ItemResult {
    index: usize,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<Problem>,
}

/// `POST /v1/messages`.
pub async fn post_one(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let key = auth::authenticate_cached(&state.key_cache, &state.store, &headers).await?;
    let value = json_body(&headers, body)?;
    let envelope = admit(&key, value, idempotency_header(&headers)?)?;
    publish::envelope(&state, &envelope).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { id: envelope.id })).into_response())
}

/// `POST /v1/messages/batch`: every item is validated and published on its own; the answer
/// lists a status per item (202 or the item's problem), in request order.
pub async fn post_batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let key = auth::authenticate_cached(&state.key_cache, &state.store, &headers).await?;
    let batch: Batch = serde_json::from_value(json_body(&headers, body)?)
        .map_err(|e| Problem::malformed(format!("expected {{\"messages\": [...]}}: {e}")))?;
    if batch.messages.is_empty() || batch.messages.len() > MAX_BATCH {
        let field = FieldError::new("/messages", format!("must hold 1 to {MAX_BATCH} messages"));
        return Err(Problem::invalid("batch size out of range", vec![field]));
    }
    let items = batch
        .messages
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            let state = state.clone();
            let key = key.clone();
            async move { publish_item(&state, &key, index, value).await }
        });
    let results = join_all(items).await;
    let accepted = results.iter().filter(|r| r.status == 202).count();
    let status = if accepted == results.len() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::MULTI_STATUS
    };
    Ok((
        status,
        Json(serde_json::json!({ "accepted": accepted, "results": results })),
    )
        .into_response())
}

async fn publish_item(
    state: &AppState,
    key: &ApiKeyRecord,
    index: usize,
    value: Value,
) -> ItemResult {
    let outcome = match admit(key, value, None) {
        Ok(envelope) => publish::envelope(state, &envelope)
            .await
            .map(|()| envelope.id),
        Err(problem) => Err(problem),
    };
    match outcome {
        Ok(id) => ItemResult {
            index,
            status: 202,
            id: Some(id),
            problem: None,
        },
        Err(problem) => ItemResult {
            index,
            status: problem.status,
            id: None,
            problem: Some(problem),
        },
    }
}

/// Parses and checks a JSON body: content type, size (by the body limit layer), syntax.
fn json_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Value, Problem> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/json") {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            format!("send `Content-Type: application/json` (got `{content_type}`)"),
        ));
    }
    let bytes = body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(_) => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Body too large",
            "the request body exceeds the ingress body limit; split the batch or shrink the payload",
        ),
        other => Problem::malformed(other.body_text()),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| Problem::malformed(format!("invalid JSON: {e}")))
}

fn idempotency_header(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| {
        Problem::invalid(
            "bad Idempotency-Key header",
            vec![FieldError::new(
                "header:Idempotency-Key",
                "must be visible ASCII",
            )],
        )
    })?;
    Ok(Some(text.to_owned()))
}

/// Turns a request body into a checked envelope this key may publish.
fn admit(
    key: &ApiKeyRecord,
    value: Value,
    idempotency_key: Option<String>,
) -> Result<Envelope, Problem> {
    let incoming: IncomingMessage = serde_json::from_value(value).map_err(|e| {
        let field = FieldError::new(pointer_of(&e.to_string()), e.to_string());
        Problem::invalid(
            "the message does not have the envelope's shape (see docs/messages.md)",
            vec![field],
        )
    })?;
    let envelope = complete(incoming, idempotency_key)?;
    envelope
        .check()
        .map_err(|fields| Problem::invalid("invalid envelope fields", fields))?;
    auth::authorize(key, &envelope.message_type)?;
    catalogue::validate(&envelope.message_type, &envelope.payload).map_err(|e| match e {
        PayloadError::UnknownType(t) => Problem::invalid(
            format!("unknown message type `{t}`; see the message catalogue (docs/messages.md)"),
            vec![FieldError::new(
                "/type",
                format!("`{t}` is not in the message catalogue"),
            )],
        ),
        PayloadError::Invalid {
            message_type,
            errors,
        } => Problem::invalid(
            format!("payload does not match the schema of `{message_type}`"),
            errors,
        ),
    })?;
    Ok(envelope)
}

/// serde names the field in its message (``missing field `payload` ``); turn that into a
/// pointer so every 422 points at a field.
fn pointer_of(serde_message: &str) -> String {
    let names_field =
        serde_message.starts_with("missing field") || serde_message.starts_with("unknown field");
    match serde_message.split('`').nth(1) {
        Some(field) if names_field => format!("/{field}"),
        _ => String::new(),
    }
}

fn complete(m: IncomingMessage, header_key: Option<String>) -> Result<Envelope, Problem> {
    let idempotency_key = match (header_key, m.idempotency_key) {
        (Some(h), Some(b)) if h != b => {
            let field = FieldError::new(
                "/idempotency_key",
                "differs from the Idempotency-Key header; send one or make them equal",
            );
            return Err(Problem::invalid(
                "conflicting idempotency keys",
                vec![field],
            ));
        }
        (h, b) => h.or(b),
    };
    Ok(Envelope {
        id: m.id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        message_type: m.message_type,
        tenant: m.tenant,
        occurred_at: m.occurred_at.unwrap_or_else(Utc::now),
        correlation_id: m.correlation_id,
        causation_id: m.causation_id,
        idempotency_key,
        payload: m.payload,
    })
}
