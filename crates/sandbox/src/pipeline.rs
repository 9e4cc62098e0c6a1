//! The order every Stripe and PayPal request goes through once its credentials checked out:
//! injected fault → idempotency key → the endpoint's work → latency → answer.
//!
//! Latency comes *after* the work, unlike Twilio's (which delays before deciding): a payment
//! client that times out must still have caused its refund, exactly as when a real provider
//! is slow to answer, so that its retry with the same idempotency key meets the stored answer
//! instead of a second refund. That is the failure idempotency keys exist for, and the one a
//! worker's tests most need to reproduce. The work runs inside the task [`crate::provider`]
//! spawns, so a client hanging up during the latency cancels nothing either.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::idempotency::{Claim, Key, Reply};
use crate::injector::Injected;
use crate::provider::Answer;
use crate::state::AppState;

/// The provider-specific parts of the pipeline: its error bodies and replay marker.
pub(crate) trait Dialect {
    /// The provider's answer to an injected fault.
    fn injected(fault: Injected) -> Response;
    /// The provider's refusal of a key reused for another request.
    fn mismatch(key: &str) -> Reply;
    /// The provider's refusal of a key whose first request is still running.
    fn in_flight(key: &str) -> Reply;
    /// Marks a replayed answer the way the provider does (Stripe: `Idempotent-Replayed`).
    fn mark_replayed(_response: &mut Response) {}
}

/// What the endpoint's work came to.
pub(crate) enum Executed {
    /// It ran (a success or a business refusal): kept for retries with the same key.
    /// `created` names the object made, for the request record.
    Ran {
        reply: Reply,
        created: Option<String>,
    },
    /// Refused before running (invalid parameters): not kept, the key stays unused.
    Refused(Reply),
}

impl Executed {
    /// A successful run that made `created`.
    pub(crate) fn created(reply: Reply, created: impl Into<String>) -> Self {
        Self::Ran {
            reply,
            created: Some(created.into()),
        }
    }

    /// A run that made nothing: a business refusal (the endpoint ran and said no), or an
    /// answer such as a cancellation.
    pub(crate) fn ran(reply: Reply) -> Self {
        Self::Ran {
            reply,
            created: None,
        }
    }
}

/// An idempotency key and the canonical form of the request it came with.
pub(crate) struct Idempotent {
    pub(crate) key: Key,
    pub(crate) fingerprint: String,
}

/// Runs `execute` under the fault, idempotency and latency rules, in that order.
pub(crate) async fn run<D: Dialect>(
    state: &AppState,
    idempotent: Option<Idempotent>,
    execute: impl FnOnce() -> Executed,
) -> Answer {
    let answer = match state.next_fault() {
        Some(fault) => Answer {
            response: D::injected(fault),
            message_sid: None,
        },
        None => once::<D>(state, idempotent, execute),
    };
    let latency = state.latency();
    if !latency.is_zero() {
        state.pause(latency).await;
    }
    answer
}

/// The work, at most once per key.
fn once<D: Dialect>(
    state: &AppState,
    idempotent: Option<Idempotent>,
    execute: impl FnOnce() -> Executed,
) -> Answer {
    let Some(Idempotent { key, fingerprint }) = idempotent else {
        return answer(execute());
    };
    let name = key.key.clone();
    match state.idempotency.claim(key, fingerprint) {
        Claim::Fresh(pending) => {
            let executed = execute();
            if let Executed::Ran { reply, .. } = &executed {
                pending.store(reply);
            }
            answer(executed)
        }
        Claim::Replay(reply) => {
            let mut response = respond(&reply);
            D::mark_replayed(&mut response);
            Answer {
                response,
                message_sid: None,
            }
        }
        Claim::Mismatch => answer(Executed::Refused(D::mismatch(&name))),
        Claim::InFlight => answer(Executed::Refused(D::in_flight(&name))),
    }
}

fn answer(executed: Executed) -> Answer {
    let (reply, created) = match executed {
        Executed::Ran { reply, created } => (reply, created),
        Executed::Refused(reply) => (reply, None),
    };
    Answer {
        response: respond(&reply),
        message_sid: created,
    }
}

/// A reply as an HTTP response: JSON, or nothing for an empty body.
pub(crate) fn respond(reply: &Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match &reply.body {
        Some(body) => (status, Json(body.clone())).into_response(),
        None => status.into_response(),
    }
}

/// `fault`'s status, and a provider error `body_for` that status, with `Retry-After` when
/// the fault is a rate limit.
pub(crate) fn fault_response(fault: Injected, body_for: impl FnOnce(u16) -> Reply) -> Response {
    let (status, retry_after) = match fault {
        Injected::Status(status) => (status, None),
        Injected::RateLimited { retry_after_secs } => (429, Some(retry_after_secs)),
    };
    let mut response = respond(&body_for(status));
    if let Some(secs) = retry_after {
        let headers = response.headers_mut();
        headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
    }
    response
}

/// A random identifier of `len` characters from `alphabet`, for provider object ids.
pub(crate) fn random_id(alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| char::from(alphabet[fastrand::usize(..alphabet.len())]))
        .collect()
}
