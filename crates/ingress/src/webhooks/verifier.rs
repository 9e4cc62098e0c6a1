//! The one interface every provider's verifier implements: a raw request in, either events to
//! publish, an answer to give at once (URL validation handshakes), or a refusal.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::{graph, hmac, paypal, paypal_cert, standard, stripe, zoom};

/// A webhook request as received: the body byte-exact, because every signature covers the
/// bytes the provider sent, not a re-serialisation of them.
#[derive(Debug)]
pub struct Inbound<'a> {
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The query string, if any.
    pub query: Option<&'a str>,
    /// The raw body.
    pub body: &'a [u8],
    /// Now, Unix seconds (a parameter so tests can move the clock).
    pub now: i64,
}

impl Inbound<'_> {
    /// A header's text, or a refusal naming it.
    pub fn header(&self, name: &'static str) -> Result<&str, Refusal> {
        self.headers
            .get(name)
            .ok_or(Refusal::MissingHeader(name))?
            .to_str()
            .map_err(|_| Refusal::BadHeader(format!("`{name}` is not visible ASCII")))
    }

    /// The body as JSON; only called once the signature held.
    pub fn json(&self) -> Result<Value, Refusal> {
        serde_json::from_slice(self.body)
            .map_err(|e| Refusal::BadBody(format!("the body is not JSON: {e}")))
    }
}

/// One event to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The provider's event id: the message id and the duplicate check's key.
    pub id: String,
    /// The provider's event type, when it names one.
    pub event_type: Option<String>,
    /// The provider's JSON.
    pub body: Value,
}

/// What a verified request asks for.
#[derive(Debug)]
pub enum Verified {
    /// Publish these (most providers send one event per request; Graph sends a batch).
    Events(Vec<Event>),
    /// Answer this at once and publish nothing (Zoom's and Graph's endpoint validation).
    Reply(Response),
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// A header the provider always sends is absent.
    #[error("the `{0}` header is missing; is this source configured with the right kind?")]
    MissingHeader(&'static str),
    /// A signature or timestamp header cannot be read.
    #[error("{0}")]
    BadHeader(String),
    /// No configured secret produces the signature.
    #[error(
        "the signature does not match this request under any configured secret; check the \
         source's secrets in the webhooks file and that nothing rewrites the body on the way"
    )]
    BadSignature,
    /// The signed timestamp is outside the replay window.
    #[error(
        "the signed timestamp is {age_secs} s from now, more than the {tolerance_secs} s \
         tolerance; a replayed or badly delayed request, or a skewed clock"
    )]
    Stale {
        /// Now minus the timestamp, seconds.
        age_secs: i64,
        /// The window.
        tolerance_secs: u64,
    },
    /// Genuine, but not something we can publish (not JSON, no event id).
    #[error("{0}")]
    BadBody(String),
    /// The provider's verification service or signing certificate could not be reached
    /// (PayPal).
    #[error("{0}")]
    Unavailable(String),
}

impl Refusal {
    /// The bounded `result` label of `switchyard_webhooks_total`.
    pub fn result(&self) -> &'static str {
        match self {
            Refusal::MissingHeader(_) | Refusal::BadHeader(_) | Refusal::BadSignature => {
                "bad_signature"
            }
            Refusal::Stale { .. } => "stale",
            Refusal::BadBody(_) => "malformed",
            Refusal::Unavailable(_) => "unavailable",
        }
    }
}

/// A configured source's verifier.
#[derive(Debug)]
pub enum Verifier {
    /// `Stripe-Signature`.
    Stripe(stripe::Stripe),
    /// PayPal's verify-webhook-signature API (`verify = "api"`).
    PayPal(paypal::PayPal),
    /// PayPal's signature checked against its certificate (`verify = "certificate"`).
    PayPalCert(paypal_cert::PayPalCert),
    /// `x-zm-signature`.
    Zoom(zoom::Zoom),
    /// Graph `clientState`.
    Graph(graph::Graph),
    /// GitHub-style `X-Hub-Signature-256`.
    Hmac(hmac::HubSignature),
    /// Standard Webhooks.
    Standard(standard::Standard),
}

impl Verifier {
    /// The provider kind: metric label and config `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Verifier::Stripe(_) => "stripe",
            Verifier::PayPal(_) | Verifier::PayPalCert(_) => "paypal",
            Verifier::Zoom(_) => "zoom",
            Verifier::Graph(_) => "graph",
            Verifier::Hmac(_) => "hmac",
            Verifier::Standard(_) => "standard",
        }
    }

    /// The message type verified events are published as.
    pub fn message_type(&self) -> &'static str {
        match self {
            Verifier::Stripe(_) => "stripe.event",
            Verifier::PayPal(_) | Verifier::PayPalCert(_) => "paypal.event",
            Verifier::Zoom(_) => "zoom.event",
            Verifier::Graph(_) => "graph.event",
            Verifier::Hmac(_) | Verifier::Standard(_) => "webhook.event",
        }
    }

    /// The 2xx the provider expects once its events are taken: Graph asks for 202, Zoom
    /// takes only 200 or 204, the others any 2xx.
    pub fn accepted_status(&self) -> StatusCode {
        match self {
            Verifier::Graph(_) => StatusCode::ACCEPTED,
            Verifier::Stripe(_)
            | Verifier::PayPal(_)
            | Verifier::PayPalCert(_)
            | Verifier::Zoom(_)
            | Verifier::Hmac(_)
            | Verifier::Standard(_) => StatusCode::OK,
        }
    }

    /// Verifies `request`.
    pub async fn verify(&self, request: &Inbound<'_>) -> Result<Verified, Refusal> {
        match self {
            Verifier::Stripe(v) => v.verify(request),
            Verifier::PayPal(v) => v.verify(request).await,
            Verifier::PayPalCert(v) => v.verify(request).await,
            Verifier::Zoom(v) => v.verify(request),
            Verifier::Graph(v) => v.verify(request),
            Verifier::Hmac(v) => v.verify(request),
            Verifier::Standard(v) => v.verify(request),
        }
    }
}

/// The text of `body[field]`, when it is a string.
pub fn text_field(body: &Value, field: &str) -> Option<String> {
    body.get(field).and_then(Value::as_str).map(str::to_owned)
}
