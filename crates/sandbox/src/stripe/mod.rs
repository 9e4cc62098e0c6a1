//! The emulated Stripe API: Checkout Sessions, Refunds and Subscriptions, with Stripe's auth,
//! form encoding, error bodies, idempotency keys and signed webhooks, so a worker written
//! against Stripe runs unchanged against the sandbox.
//!
//! - `POST /v1/checkout/sessions` (mode `payment`), `POST /v1/refunds`,
//!   `POST /v1/subscriptions`, `DELETE /v1/subscriptions/{id}`.
//! - Payment intents exist once a session is paid: `POST /_sandbox/stripe/checkout/sessions/{id}/pay`
//!   (or [`crate::SandboxHandle::stripe_pay_checkout`]) plays the customer.
//! - Magic customer `cus_card_declined`: its subscriptions are declined (402 `card_declined`).
//!
//! Every request needs `Authorization: Bearer <secret key>` (HTTP Basic with the key as user
//! works too, as at Stripe); faults and latency apply after that check (see `pipeline.rs`).

mod checkout;
mod config;
mod error;
mod events;
mod params;
mod refunds;
mod subscriptions;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method, Uri};
use serde_json::Value;

pub(crate) use self::checkout::pay;
pub use self::config::{DEFAULT_STRIPE_SECRET_KEY, DEFAULT_STRIPE_WEBHOOK_SECRET, StripeConfig};
use self::error::StripeError;
use self::params::Params;
use crate::idempotency::{Key, Reply};
use crate::injector::Injected;
use crate::ledger::Ledger;
use crate::pipeline::{self, Dialect, Executed, Idempotent};
use crate::provider::{Answer, Incoming, recorded};
use crate::state::AppState;

/// The emulated Stripe account and everything made in it.
#[derive(Debug)]
pub(crate) struct StripeState {
    pub(crate) config: StripeConfig,
    pub(crate) ledger: Ledger,
}

impl StripeState {
    /// An account with nothing in it yet.
    pub(crate) fn new(config: StripeConfig) -> Self {
        Self {
            config,
            ledger: Ledger::default(),
        }
    }
}

/// The Stripe routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/checkout/sessions", collection(checkout::create))
        .route("/v1/refunds", collection(refunds::create))
        .route("/v1/subscriptions", collection(subscriptions::create))
        .route("/v1/subscriptions/{id}", delete(cancel_subscription))
}

/// One authenticated Stripe call, as an endpoint's work sees it.
pub(crate) struct Call {
    pub(crate) params: Params,
    /// The id in the path, for `/v1/…/{id}` routes.
    pub(crate) id: String,
}

/// An endpoint's work.
type Work = fn(&AppState, &Call) -> Executed;

/// A POST to a collection (`/v1/refunds`), answered by `work`.
fn collection(work: Work) -> MethodRouter<AppState> {
    post(
        move |state: State<AppState>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            handle(state, method, uri, headers, body, String::new(), work)
        },
    )
}

/// `DELETE /v1/subscriptions/{id}`.
async fn cancel_subscription(
    state: State<AppState>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(state, method, uri, headers, body, id, subscriptions::cancel).await
}

/// Records the request, then: credentials, the pipeline (faults, idempotency, `work`,
/// latency).
async fn handle(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    id: String,
    work: Work,
) -> Response {
    let incoming = Incoming::new(&uri, headers, &body);
    let verb = method.clone();
    let run = move |state: AppState, incoming: Incoming| async move {
        if let Err(err) = authorize(&state, &incoming.headers) {
            let response = err.into_response();
            return Answer {
                response,
                message_sid: None,
            };
        }
        let call = Call {
            params: Params::new(incoming.form),
            id,
        };
        let key = idempotency_key(
            &state,
            &verb,
            &incoming.path,
            &incoming.headers,
            &call.params,
        );
        pipeline::run::<StripeDialect>(&state, key, || work(&state, &call)).await
    };
    recorded(&state, &method, incoming, run).await
}

/// The secret key of `Authorization: Bearer <key>` (or Basic `<key>:`).
fn presented_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    if let Some(key) = value.strip_prefix("Bearer ") {
        return Some(key.trim().to_owned());
    }
    let decoded = STANDARD.decode(value.strip_prefix("Basic ")?.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split(':').next().unwrap_or_default().to_owned())
}

/// Stripe's 401s: no key, or a key it does not know (shown masked, as Stripe does).
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), StripeError> {
    let Some(key) = presented_key(headers) else {
        return Err(StripeError::invalid(
            401,
            "You did not provide an API key. You need to provide your API key in the \
             Authorization header, using Bearer auth (e.g. 'Authorization: Bearer \
             YOUR_SECRET_KEY').",
        ));
    };
    if key == state.stripe.config.secret_key {
        return Ok(());
    }
    Err(StripeError::invalid(
        401,
        format!("Invalid API Key provided: {}", mask(&key)),
    ))
}

/// `sk_test_****1234`: enough to tell keys apart, never the key.
fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 12 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 12))
}

/// The `Idempotency-Key` of a POST, scoped to the API key it came with.
fn idempotency_key(
    state: &AppState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    params: &Params,
) -> Option<Idempotent> {
    if method != Method::POST {
        return None;
    }
    let key = headers.get("idempotency-key")?.to_str().ok()?.to_owned();
    Some(Idempotent {
        key: Key {
            scope: format!("stripe {}", state.stripe.config.secret_key),
            key,
        },
        fingerprint: params.fingerprint(method.as_str(), path),
    })
}

/// Stripe's wire details for the shared pipeline.
struct StripeDialect;

impl Dialect for StripeDialect {
    fn injected(fault: Injected) -> Response {
        StripeError::injected(fault)
    }

    fn mismatch(key: &str) -> Reply {
        let message = format!(
            "Keys for idempotent requests can only be used with the same parameters they \
             were first used with. Try using a key other than '{key}' if you meant to \
             execute a different request."
        );
        StripeError::idempotency(400, message).reply()
    }

    fn in_flight(key: &str) -> Reply {
        let message = format!(
            "There is currently another in-progress request using this Idempotent Key (that \
             probably means you submitted twice, and the other request is still going \
             through): {key}. Please try again later."
        );
        StripeError::idempotency(409, message).reply()
    }

    fn mark_replayed(response: &mut Response) {
        let headers = response.headers_mut();
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
}

/// A created object's answer: 200 with the object.
fn created(object: Value) -> Executed {
    let id = object["id"].as_str().unwrap_or_default().to_owned();
    Executed::created(Reply::json(200, object), id)
}

/// Stripe ids: a prefix and random alphanumerics.
fn new_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    format!("{prefix}{}", pipeline::random_id(ALPHABET, 24))
}

/// Seconds since the epoch, Stripe's `created`.
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
