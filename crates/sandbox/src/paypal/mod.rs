//! The emulated PayPal REST API: OAuth2 client credentials, Orders v2, Payments v2 refunds,
//! Subscriptions v1 and webhook signature verification, with PayPal's error bodies,
//! `PayPal-Request-Id` idempotency and webhooks signed the way PayPal signs them.
//!
//! - `POST /v1/oauth2/token` (Basic `client_id:secret`, `grant_type=client_credentials`);
//!   every other route needs `Authorization: Bearer <a token issued here>`.
//! - `POST /v2/checkout/orders`, `POST /v2/payments/captures/{id}/refund`,
//!   `POST /v1/billing/subscriptions`, `POST /v1/billing/subscriptions/{id}/cancel`.
//! - `POST /v1/notifications/verify-webhook-signature`, and the certificate at
//!   `GET /v1/notifications/certs/CERT-sandbox` (served as is: not faulted, not recorded).
//! - The payer's approval is a test hook: `POST /_sandbox/paypal/orders/{id}/capture` (or
//!   [`crate::SandboxHandle::paypal_capture_order`]) approves and captures an order.

mod amount;
mod config;
mod error;
mod events;
mod oauth;
mod orders;
mod refunds;
mod signing;
mod subscriptions;
mod verify;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use http::{HeaderMap, Method, Uri};
use serde_json::{Value, json};

pub use self::config::{
    DEFAULT_PAYPAL_CLIENT_ID, DEFAULT_PAYPAL_CLIENT_SECRET, DEFAULT_PAYPAL_WEBHOOK_ID, PayPalConfig,
};
use self::error::PayPalError;
use self::oauth::Tokens;
pub(crate) use self::orders::capture;
use self::signing::Signer;
use crate::idempotency::{Key, Reply};
use crate::injector::Injected;
use crate::ledger::Ledger;
use crate::pipeline::{self, Dialect, Executed, Idempotent};
use crate::provider::{Answer, Incoming, recorded};
use crate::state::AppState;

/// The emulated PayPal app and everything made in it.
#[derive(Debug)]
pub(crate) struct PayPalState {
    pub(crate) config: PayPalConfig,
    pub(crate) ledger: Ledger,
    tokens: Tokens,
    signer: Signer,
    /// `PAYPAL-CERT-URL` of the webhooks sent.
    pub(crate) cert_url: String,
}

impl PayPalState {
    /// An app with nothing in it yet, whose certificate is served under `base_url`.
    pub(crate) fn new(config: PayPalConfig, base_url: &str) -> Result<Self, String> {
        Ok(Self {
            config,
            ledger: Ledger::default(),
            tokens: Tokens::default(),
            signer: Signer::new()?,
            cert_url: format!("{base_url}/v1/notifications/certs/{}", signing::CERT_NAME),
        })
    }
}

/// The PayPal routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/oauth2/token", post(token))
        .route("/v2/checkout/orders", collection(orders::create))
        .route("/v2/payments/captures/{id}/refund", member(refunds::create))
        .route(
            "/v1/billing/subscriptions",
            collection(subscriptions::create),
        )
        .route(
            "/v1/billing/subscriptions/{id}/cancel",
            member(subscriptions::cancel),
        )
        .route(
            "/v1/notifications/verify-webhook-signature",
            collection(verify::verify),
        )
        .route("/v1/notifications/certs/{name}", get(certificate))
}

/// One authenticated PayPal call, as an endpoint's work sees it.
pub(crate) struct Call {
    /// The JSON body (`Null` when there was none).
    pub(crate) body: Value,
    /// The body's bytes as sent (what a webhook signature covers).
    pub(crate) raw: Bytes,
    /// The id in the path, for `/…/{id}/…` routes.
    pub(crate) id: String,
}

/// An endpoint's work.
type Work = fn(&AppState, &Call) -> Executed;

/// A POST to a collection, answered by `work`.
fn collection(work: Work) -> MethodRouter<AppState> {
    post(
        move |state: State<AppState>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            handle(state, method, uri, headers, body, String::new(), work)
        },
    )
}

/// A POST to one object (`/{id}/refund`), answered by `work`.
fn member(work: Work) -> MethodRouter<AppState> {
    post(
        move |state: State<AppState>,
              Path(id): Path<String>,
              method: Method,
              uri: Uri,
              headers: HeaderMap,
              body: Bytes| { handle(state, method, uri, headers, body, id, work) },
    )
}

/// Records the request, then: the access token, the pipeline (faults, `PayPal-Request-Id`,
/// `work`, latency).
async fn handle(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
    id: String,
    work: Work,
) -> Response {
    let mut incoming = Incoming::new(&uri, headers, &raw);
    incoming.json = serde_json::from_slice(&raw).ok();
    let run = move |state: AppState, incoming: Incoming| async move {
        if !state.paypal.tokens.admits(&incoming.headers) {
            let response = pipeline::respond(&PayPalError::authentication().reply());
            return Answer {
                response,
                message_sid: None,
            };
        }
        let parsed = if raw.is_empty() {
            Ok(Value::Null)
        } else {
            serde_json::from_slice(&raw)
        };
        let key = request_id(&state, &incoming, parsed.as_ref().ok());
        let Ok(body) = parsed else {
            let description = "MALFORMED_REQUEST_JSON";
            let malformed = PayPalError::invalid(
                "/",
                None,
                description,
                "The request JSON is not well formed.",
            );
            return pipeline::run::<PayPalDialect>(&state, None, || {
                Executed::Refused(malformed.reply())
            })
            .await;
        };
        let call = Call { body, raw, id };
        pipeline::run::<PayPalDialect>(&state, key, || work(&state, &call)).await
    };
    recorded(&state, &method, incoming, run).await
}

/// `PayPal-Request-Id`, scoped to the app, with the request in canonical form (JSON keys
/// sorted, so the same body re-serialised is still the same request).
fn request_id(state: &AppState, incoming: &Incoming, body: Option<&Value>) -> Option<Idempotent> {
    let key = incoming
        .headers
        .get("paypal-request-id")?
        .to_str()
        .ok()?
        .to_owned();
    let body = body.map(Value::to_string).unwrap_or_default();
    Some(Idempotent {
        key: Key {
            scope: format!("paypal {}", state.paypal.config.client_id),
            key,
        },
        fingerprint: format!("POST {} {body}", incoming.path),
    })
}

/// `POST /v1/oauth2/token`: credentials and grant first, then faults and latency.
async fn token(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let incoming = Incoming::new(&uri, headers, &body);
    let run = |state: AppState, incoming: Incoming| async move {
        let grant_type = incoming
            .form
            .iter()
            .find(|(k, _)| k == "grant_type")
            .map(|(_, v)| v.as_str());
        if let Err(reply) = oauth::check(&state, &incoming.headers, grant_type) {
            return Answer {
                response: pipeline::respond(&reply),
                message_sid: None,
            };
        }
        pipeline::run::<PayPalDialect>(&state, None, || oauth::grant(&state)).await
    };
    recorded(&state, &method, incoming, run).await
}

/// `GET /v1/notifications/certs/CERT-sandbox`: the webhook certificate (PEM).
async fn certificate(Path(name): Path<String>) -> Response {
    if name != signing::CERT_NAME {
        return pipeline::respond(&PayPalError::not_found().reply());
    }
    (
        [(http::header::CONTENT_TYPE, "application/x-pem-file")],
        signing::CERT_PEM,
    )
        .into_response()
}

/// PayPal's wire details for the shared pipeline.
struct PayPalDialect;

impl Dialect for PayPalDialect {
    fn injected(fault: Injected) -> Response {
        PayPalError::injected(fault)
    }

    fn mismatch(_key: &str) -> Reply {
        let description = "The PayPal-Request-ID has already been used for another request.";
        PayPalError::unprocessable("PAYPAL_REQUEST_ID_PREVIOUSLY_USED", description).reply()
    }

    fn in_flight(_key: &str) -> Reply {
        PayPalError::in_progress().reply()
    }
}

/// A created object's answer: 201 with the object.
fn created(object: Value) -> Executed {
    let id = object["id"].as_str().unwrap_or_default().to_owned();
    Executed::created(Reply::json(201, object), id)
}

/// PayPal ids: `len` upper-case letters and digits.
fn new_id(len: usize) -> String {
    pipeline::random_id(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", len)
}

/// A HATEOAS link under the sandbox.
fn link(state: &AppState, path: &str, rel: &str, method: &str) -> Value {
    json!({ "href": format!("{}{path}", state.base_url), "rel": rel, "method": method })
}

/// Now, as PayPal writes times.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
