//! The payments worker's messages: the verified webhooks the ingress publishes
//! (schemas: `crates/contract/schemas/{stripe,paypal}.event.json`).

use serde::Deserialize;
use serde_json::Value;

/// Every job the payments worker handles.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum PaymentsJob {
    /// `stripe.event`: a Stripe event, signature verified by the ingress.
    #[serde(rename = "stripe.event")]
    Stripe(WebhookEvent),
    /// `paypal.event`: a PayPal event, verified by the ingress.
    #[serde(rename = "paypal.event")]
    Paypal(WebhookEvent),
}

/// The payload of a `<provider>.event`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEvent {
    /// The webhook source that received it.
    pub source: String,
    /// The provider's event type.
    #[serde(default)]
    pub event_type: Option<String>,
    /// The provider's JSON body as received.
    pub event: Value,
}
