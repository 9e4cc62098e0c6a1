//! `POST /webhooks/{source}` and `/webhooks/{source}/{tenant}`: find the configured source,
//! verify the raw request, then take each event exactly once — claim it in Postgres, publish it
//! with a confirm, mark it published — and answer 2xx only after all that. A provider that gets
//! a 2xx never sends the event again, so nothing may be answered 2xx before it is in RabbitMQ;
//! and a provider that does not get one retries, so a failed publish releases its claim.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;
use switchyard_broker::PublishError;
use switchyard_contract::Envelope;
use switchyard_store::WebhookClaim;

use super::config::Source;
use super::verifier::{Event, Inbound, Refusal, Verified};
use crate::problem::Problem;
use crate::{AppState, publish};

/// How long a claim holds before a retry may take it over: well past a publish confirm's
/// timeout, short enough that a crashed ingress does not block the provider's retries long.
const CLAIM_LEASE: Duration = Duration::from_secs(30);

/// `POST /webhooks/{source}`.
pub async fn receive(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(&state, &name, None, query.as_deref(), &headers, body).await
}

/// `POST /webhooks/{source}/{tenant}`.
pub async fn receive_for_tenant(
    State(state): State<AppState>,
    Path((name, tenant)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(
        &state,
        &name,
        Some(&tenant),
        query.as_deref(),
        &headers,
        body,
    )
    .await
}

async fn handle(
    state: &AppState,
    name: &str,
    tenant: Option<&str>,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(source) = state.config.webhooks.find(name, tenant) else {
        // "unknown", never the path: a label must not take values a caller chooses.
        state.metrics.webhook("unknown", "unknown_source");
        return not_found().into_response();
    };
    let kind = source.verifier.kind();
    let (result, response) = match verify_and_take(state, source, query, headers, body).await {
        Ok(outcome) => outcome,
        Err((result, problem)) => (result, problem.into_response()),
    };
    state.metrics.webhook(kind, result);
    response
}

type Outcome = Result<(&'static str, Response), (&'static str, Problem)>;

async fn verify_and_take(
    state: &AppState,
    source: &Source,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Outcome {
    let body = body.map_err(|rejection| ("too_large", too_large(rejection)))?;
    let request = Inbound {
        headers,
        query,
        body: &body,
        now: Utc::now().timestamp(),
    };
    let events = match source.verifier.verify(&request).await {
        Ok(Verified::Reply(reply)) => return Ok(("handshake", reply)),
        Ok(Verified::Events(events)) => events,
        Err(refusal) => {
            tracing::warn!(source = %source.key(), reason = %refusal, "refused a webhook");
            return Err((refusal.result(), refused(refusal)));
        }
    };
    let mut published = 0;
    for event in events {
        published += usize::from(
            take(state, source, event)
                .await
                .map_err(|p| ("unavailable", p))?,
        );
    }
    let result = if published == 0 {
        "duplicate"
    } else {
        "accepted"
    };
    Ok((result, accepted(source)))
}

/// Claims, publishes and marks one event; `true` when published now, `false` for a duplicate.
async fn take(state: &AppState, source: &Source, event: Event) -> Result<bool, Problem> {
    let envelope = envelope(source, event);
    envelope.check().map_err(|fields| {
        Problem::invalid("the provider's event id cannot be a message id", fields)
    })?;
    let key = source.key();
    let holder = uuid::Uuid::new_v4().to_string();
    let claim = state
        .store
        .claim_webhook(&key, &envelope.id, &holder, CLAIM_LEASE)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "cannot claim a webhook event; answering 503");
            Problem::unavailable("the database is unreachable; nothing was accepted, retry later")
        })?;
    match claim {
        WebhookClaim::Published => return Ok(false),
        WebhookClaim::InFlight => {
            return Err(Problem::unavailable(
                "this event is being taken by a concurrent delivery; retry later",
            ));
        }
        WebhookClaim::Claimed => {}
    }
    if let Err(error) = publish::confirmed(state, &envelope).await {
        release(state, &key, &envelope.id, &holder).await;
        return Err(match error {
            PublishError::Unroutable(_) => unroutable(&envelope.message_type),
            PublishError::Unavailable(_)
            | PublishError::Nacked
            | PublishError::ConfirmTimeout(_) => publish::unavailable(&error),
        });
    }
    if let Err(error) = state.store.webhook_published(&key, &envelope.id).await {
        // RabbitMQ has it: answering 2xx is right. Only a redelivery after the lease ends
        // could publish it again (at least once, never lost).
        tracing::warn!(%error, id = %envelope.id, "published a webhook event but could not mark it");
    }
    Ok(true)
}

async fn release(state: &AppState, key: &str, id: &str, holder: &str) {
    if let Err(error) = state.store.release_webhook(key, id, holder).await {
        // The lease ends by itself; until then a retry is answered 503 again.
        tracing::warn!(%error, %id, "cannot release a webhook claim; it lapses with its lease");
    }
}

fn envelope(source: &Source, event: Event) -> Envelope {
    Envelope {
        id: event.id,
        message_type: source.verifier.message_type().into(),
        tenant: source.tenant.clone(),
        occurred_at: Utc::now(),
        correlation_id: None,
        causation_id: None,
        idempotency_key: None,
        payload: json!({ "source": source.key(), "event_type": event.event_type, "event": event.body }),
    }
}

fn accepted(source: &Source) -> Response {
    source.verifier.accepted_status().into_response()
}

fn refused(refusal: Refusal) -> Problem {
    let detail = refusal.to_string();
    match refusal {
        Refusal::MissingHeader(_) | Refusal::BadHeader(_) | Refusal::BadSignature => Problem::new(
            StatusCode::UNAUTHORIZED,
            "bad-signature",
            "Invalid signature",
            detail,
        ),
        Refusal::Stale { .. } => Problem::new(
            StatusCode::UNAUTHORIZED,
            "stale-timestamp",
            "Stale timestamp",
            detail,
        ),
        Refusal::BadBody(_) => Problem::malformed(detail),
        Refusal::Unavailable(_) => Problem::unavailable(detail),
    }
}

fn unroutable(message_type: &str) -> Problem {
    tracing::error!(%message_type, "no queue is bound to a webhook event type; answering 503");
    Problem::unavailable(format!(
        "no queue is bound to `{message_type}` yet, so the event would be lost; nothing was \
         accepted. Bind a consumer's queue to that routing key; the provider's retry then goes through"
    ))
}

fn not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "unknown-webhook-source",
        "Unknown webhook source",
        "no webhook source is configured for this path; add a [[sources]] entry to the \
         webhooks file (SWITCHYARD_WEBHOOKS) with this name and tenant",
    )
}

fn too_large(rejection: BytesRejection) -> Problem {
    match rejection {
        BytesRejection::FailedToBufferBody(_) => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Body too large",
            "the webhook body exceeds the ingress body limit (SWITCHYARD_BODY_LIMIT)",
        ),
        other => Problem::malformed(other.body_text()),
    }
}
