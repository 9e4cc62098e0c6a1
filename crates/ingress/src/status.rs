//! `GET /v1/messages/{id}`: what happened to a message — its delivery per integration, every
//! status it went through and every attempt. A key sees only messages of the types it may
//! publish; for any other it is as if the message did not exist (404), so ids cannot be probed.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::Serialize;
use switchyard_store::{AttemptRecord, DeliveryEvent, DeliveryRecord, MessageHistory};

use crate::problem::Problem;
use crate::{AppState, auth};

/// The answer: the message and its history.
#[derive(Debug, Serialize)]
pub struct MessageStatus {
    /// The message id.
    pub id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub message_type: String,
    /// Its tenant, when given.
    pub tenant: Option<String>,
    /// The current state per integration.
    pub deliveries: Vec<Delivery>,
    /// Every status reached, oldest first.
    pub history: Vec<DeliveryEvent>,
    /// Every attempt, oldest first.
    pub attempts: Vec<Attempt>,
}

/// The current state of one integration's delivery.
#[derive(Debug, Serialize)]
pub struct Delivery {
    /// `sms`, `email`, …
    pub integration: String,
    /// The current status.
    pub status: String,
    /// The provider's id (e.g. a Twilio message SID).
    pub provider_ref: Option<String>,
    /// Why it failed or was parked.
    pub error_code: Option<String>,
    /// First recorded.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// One attempt.
#[derive(Debug, Serialize)]
pub struct Attempt {
    /// 1-based attempt number.
    pub attempt: i32,
    /// `succeeded`, `retried`, `parked` or `duplicate`.
    pub outcome: String,
    /// Error class, if it failed.
    pub error_class: Option<String>,
    /// Error code, if it failed.
    pub error_code: Option<String>,
    /// The provider's id, if it answered with one.
    pub provider_ref: Option<String>,
    /// How long the handler took.
    pub duration_ms: i64,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

/// `GET /v1/messages/{id}`.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<MessageStatus>, Problem> {
    let key = auth::authenticate_cached(&state.key_cache, &state.store, &headers).await?;
    let history = state.store.message_history(&id).await.map_err(|e| {
        Problem::unavailable(format!("cannot read the delivery log right now: {e}"))
    })?;
    let Some(history) = history else {
        return Err(not_found(&id));
    };
    let status = MessageStatus::from_history(id, history);
    if !key.allows(&status.message_type) {
        return Err(not_found(&status.id));
    }
    Ok(Json(status))
}

impl MessageStatus {
    /// The API's view of a stored history (the CLI prints the same).
    pub fn from_history(id: String, history: MessageHistory) -> MessageStatus {
        let message_type = history
            .deliveries
            .first()
            .map(|d| d.message_type.clone())
            .or_else(|| history.attempts.first().map(|a| a.message_type.clone()))
            .unwrap_or_default();
        let tenant = history
            .deliveries
            .iter()
            .find_map(|d| d.tenant.clone())
            .or_else(|| history.attempts.iter().find_map(|a| a.tenant.clone()));
        MessageStatus {
            id,
            message_type,
            tenant,
            deliveries: history.deliveries.into_iter().map(delivery).collect(),
            history: history.events,
            attempts: history.attempts.into_iter().map(attempt).collect(),
        }
    }
}

fn delivery(d: DeliveryRecord) -> Delivery {
    Delivery {
        integration: d.integration,
        status: d.status.as_str().to_owned(),
        provider_ref: d.provider_ref,
        error_code: d.error_code,
        created_at: d.created_at,
        updated_at: d.updated_at,
    }
}

fn attempt(a: AttemptRecord) -> Attempt {
    Attempt {
        attempt: a.attempt,
        outcome: a.outcome,
        error_class: a.error_class,
        error_code: a.error_code,
        provider_ref: a.provider_ref,
        duration_ms: a.duration_ms,
        at: a.recorded_at,
    }
}

fn not_found(id: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "message-not-found",
        "No such message",
        format!(
            "nothing is recorded for message `{id}` that this key may see; a message just accepted \
             appears once a worker has taken it from its queue"
        ),
    )
}
