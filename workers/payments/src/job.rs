//! The payments workers' messages: the verified webhooks the ingress publishes (schemas:
//! `crates/contract/schemas/{stripe,paypal}.event.json`) for the events worker, and the ERP's
//! commands (`payments.*.json` there) for the commands worker.

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

/// Every command the payment-commands worker carries out at a provider.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum PaymentCommand {
    /// `payments.checkout.create`: a hosted payment page for a fee.
    #[serde(rename = "payments.checkout.create")]
    Checkout(CheckoutCommand),
    /// `payments.refund`: give money back, in full or in part.
    #[serde(rename = "payments.refund")]
    Refund(RefundCommand),
    /// `payments.subscription.create`: a recurring payment.
    #[serde(rename = "payments.subscription.create")]
    SubscriptionCreate(SubscriptionCreateCommand),
    /// `payments.subscription.cancel`: stop one.
    #[serde(rename = "payments.subscription.cancel")]
    SubscriptionCancel(SubscriptionCancelCommand),
}

impl PaymentCommand {
    /// The message type: part of every idempotency key sent to the provider.
    pub fn message_type(&self) -> &'static str {
        match self {
            PaymentCommand::Checkout(_) => "payments.checkout.create",
            PaymentCommand::Refund(_) => "payments.refund",
            PaymentCommand::SubscriptionCreate(_) => "payments.subscription.create",
            PaymentCommand::SubscriptionCancel(_) => "payments.subscription.cancel",
        }
    }

    /// The provider it goes to.
    pub fn provider(&self) -> Provider {
        match self {
            PaymentCommand::Checkout(c) => c.provider,
            PaymentCommand::Refund(c) => c.provider,
            PaymentCommand::SubscriptionCreate(c) => c.provider,
            PaymentCommand::SubscriptionCancel(c) => c.provider,
        }
    }
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

/// Which payment provider a command is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Stripe's API (`Idempotency-Key`).
    Stripe,
    /// PayPal's REST API (`PayPal-Request-Id`).
    Paypal,
}

impl Provider {
    /// `stripe`, `paypal`: the label in logs, metrics and ERP events.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::Paypal => "paypal",
        }
    }
}

/// `payments.checkout.create`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutCommand {
    /// Stripe Checkout Session or PayPal order.
    pub provider: Provider,
    /// The ERP's id of what is paid for (fee, invoice); comes back on the payment's events.
    pub reference: String,
    /// Minor units of `currency`.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// What the payer sees.
    pub description: String,
    /// Where the provider sends the payer after paying.
    pub success_url: String,
    /// Where the provider sends a payer who gives up.
    pub cancel_url: String,
    /// Pre-fills the payer's email (Stripe).
    #[serde(default)]
    pub customer_email: Option<String>,
}

/// `payments.refund`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundCommand {
    /// Who took the payment.
    pub provider: Provider,
    /// Stripe PaymentIntent id, PayPal capture id.
    pub payment_id: String,
    /// Minor units; absent refunds everything not yet refunded.
    #[serde(default)]
    pub amount: Option<i64>,
    /// ISO 4217; required with `amount`.
    #[serde(default)]
    pub currency: Option<String>,
    /// Why, for the provider's records (Stripe: `duplicate`, `fraudulent`,
    /// `requested_by_customer`; PayPal: a note to the payer).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `payments.subscription.create`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionCreateCommand {
    /// Where the subscription lives.
    pub provider: Provider,
    /// Stripe price id, PayPal plan id.
    pub plan: String,
    /// Stripe customer id (required for Stripe; PayPal's payer approves on PayPal instead).
    #[serde(default)]
    pub customer: Option<String>,
    /// The ERP's id for it (Stripe metadata, PayPal `custom_id`).
    pub reference: String,
    /// PayPal: where the payer returns after approving.
    #[serde(default)]
    pub return_url: Option<String>,
    /// PayPal: where a payer who declines returns.
    #[serde(default)]
    pub cancel_url: Option<String>,
}

/// `payments.subscription.cancel`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionCancelCommand {
    /// Where the subscription lives.
    pub provider: Provider,
    /// Stripe `sub_…`, PayPal `I-…`.
    pub subscription_id: String,
    /// Why (PayPal requires one; a default is sent when absent).
    #[serde(default)]
    pub reason: Option<String>,
}
