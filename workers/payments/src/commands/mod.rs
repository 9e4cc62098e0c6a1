//! The payment-commands worker: the ERP's `payments.checkout.create`, `payments.refund`,
//! `payments.subscription.create` and `payments.subscription.cancel` carried out at Stripe or
//! PayPal. Its own queue (`[queues.payment_commands]`), so a provider outage opens this
//! worker's breaker without holding up the webhooks the events worker applies.
//!
//! Exactly once at the provider: every call carries an idempotency key derived from the
//! message's (`Idempotency-Key` for Stripe, `PayPal-Request-Id` for PayPal). A retry after a
//! timeout, a crash or a lost confirm sends the same key and gets the provider's stored answer,
//! so nothing is charged, refunded or subscribed twice; that replay is also how an interrupted
//! attempt is reconciled. Which errors retry is decided in `error.rs`.
//!
//! What the ERP hears back: `erp.checkout.created` (the payment page's URL) and
//! `erp.subscription.created` (PayPal's approval URL); refunds and cancellations are announced
//! by the provider's webhooks through the events worker (`erp.refund.succeeded`,
//! `erp.subscription.canceled`), once they really happened.

mod paypal_api;
mod stripe_api;

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::RequestBuilder;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchyard_contract::{DeliveryContext, Done, Worker};
use switchyard_runtime::{delivery_log, http};
use switchyard_store::{PendingErpEvent, Store};

pub use paypal_api::{PaypalApi, PaypalConfig};
pub use stripe_api::{StripeApi, StripeConfig};

use crate::job::{PaymentCommand, Provider};
use crate::{ErpEvents, PaymentsError};

/// The payment-commands worker.
pub struct PaymentCommandsWorker {
    stripe: Option<StripeApi>,
    paypal: Option<PaypalApi>,
    events: ErpEvents,
    store: Store,
}

/// What a provider made or changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The provider's object id (`cs_…`, `re_…`, `sub_…`, order, refund or subscription id).
    pub id: String,
    /// The provider's status word for it.
    pub status: String,
    /// Where the payer goes next (payment page, approval page), if anywhere.
    pub url: Option<String>,
}

impl Created {
    /// Reads `id`, the status at `status` and the URL at `url` (JSON pointers) of `object`.
    fn from(
        provider: &'static str,
        object: &Value,
        status: &str,
        url: Option<&str>,
    ) -> Result<Created, PaymentsError> {
        let id = object["id"]
            .as_str()
            .ok_or_else(|| PaymentsError::UnexpectedResponse {
                provider,
                detail: "the answer has no `id`".into(),
            })?;
        Ok(Created {
            id: id.to_owned(),
            status: object
                .pointer(status)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            url: url
                .and_then(|p| object.pointer(p))
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

impl PaymentCommandsWorker {
    /// A worker for whichever providers are configured (a command for another is parked,
    /// named `provider_not_configured`), announcing results through `events` and recording
    /// them in `store`'s delivery log.
    pub fn new(
        stripe: Option<StripeApi>,
        paypal: Option<PaypalApi>,
        events: ErpEvents,
        store: Store,
    ) -> Self {
        Self {
            stripe,
            paypal,
            events,
            store,
        }
    }

    fn stripe(&self) -> Result<&StripeApi, PaymentsError> {
        self.stripe
            .as_ref()
            .ok_or(PaymentsError::NotConfigured("Stripe"))
    }

    fn paypal(&self) -> Result<&PaypalApi, PaymentsError> {
        self.paypal
            .as_ref()
            .ok_or(PaymentsError::NotConfigured("PayPal"))
    }

    async fn execute(
        &self,
        command: &PaymentCommand,
        ctx: &DeliveryContext,
    ) -> Result<Created, PaymentsError> {
        let key = request_key(command.message_type(), &ctx.idempotency_key);
        let tenant = ctx.tenant.as_deref();
        match (command, command.provider()) {
            (PaymentCommand::Checkout(c), Provider::Stripe) => {
                self.stripe()?.checkout(c, tenant, &key).await
            }
            (PaymentCommand::Checkout(c), Provider::Paypal) => {
                self.paypal()?.checkout(c, &key).await
            }
            (PaymentCommand::Refund(c), Provider::Stripe) => self.stripe()?.refund(c, &key).await,
            (PaymentCommand::Refund(c), Provider::Paypal) => self.paypal()?.refund(c, &key).await,
            (PaymentCommand::SubscriptionCreate(c), Provider::Stripe) => {
                self.stripe()?.subscribe(c, tenant, &key).await
            }
            (PaymentCommand::SubscriptionCreate(c), Provider::Paypal) => {
                self.paypal()?.subscribe(c, &key).await
            }
            (PaymentCommand::SubscriptionCancel(c), Provider::Stripe) => {
                self.stripe()?.cancel(c).await
            }
            (PaymentCommand::SubscriptionCancel(c), Provider::Paypal) => {
                self.paypal()?.cancel(c, &key).await
            }
        }
    }
}

impl Worker for PaymentCommandsWorker {
    const NAME: &'static str = "payment_commands";
    type Job = PaymentCommand;
    type Error = PaymentsError;

    async fn handle(
        &self,
        command: PaymentCommand,
        ctx: &DeliveryContext,
    ) -> Result<Done, PaymentsError> {
        let created = self.execute(&command, ctx).await?;
        let provider = command.provider().as_str();
        tracing::info!(provider, object = %created.id, status = %created.status, "provider carried out the command");
        if let Some(event) = result_event(&command, provider, &created) {
            // Published after the provider acted; a failed publish retries the command, which
            // the idempotency key turns into a replay, and republishes with the same id.
            self.events
                .publish(provider, &created.id, &event, ctx)
                .await?;
        }
        Ok(delivery_log::sent(&self.store, Self::NAME, ctx, created.id).await?)
    }

    fn has_side_effect(&self, _: &PaymentCommand) -> bool {
        true
    }

    /// Nothing to look up: sending again with the same idempotency key *is* the
    /// reconciliation — the provider answers with what the interrupted attempt did.
    async fn reconcile(
        &self,
        _: &PaymentCommand,
        _: &DeliveryContext,
        _: DateTime<Utc>,
    ) -> Result<Option<Done>, PaymentsError> {
        Ok(None)
    }

    /// Up when every configured provider answers HTTP below 500 (any answer proves it is
    /// there; credentials are the commands' business).
    async fn probe(&self) -> Result<(), PaymentsError> {
        if let Some(stripe) = &self.stripe {
            stripe.probe().await?;
        }
        if let Some(paypal) = &self.paypal {
            paypal.probe().await?;
        }
        Ok(())
    }
}

/// The ERP event a command's result is worth, if any.
fn result_event(
    command: &PaymentCommand,
    provider: &str,
    created: &Created,
) -> Option<PendingErpEvent> {
    let (erp_type, payload) = match command {
        PaymentCommand::Checkout(c) => (
            "erp.checkout.created",
            json!({
                "provider": provider,
                "reference": c.reference,
                "checkout_id": created.id,
                "url": created.url,
                "amount": c.amount,
                "currency": c.currency.to_uppercase(),
            }),
        ),
        PaymentCommand::SubscriptionCreate(c) => (
            "erp.subscription.created",
            json!({
                "provider": provider,
                "reference": c.reference,
                "subscription_id": created.id,
                "status": created.status,
                "approve_url": created.url,
            }),
        ),
        PaymentCommand::Refund(_) | PaymentCommand::SubscriptionCancel(_) => return None,
    };
    Some(PendingErpEvent {
        erp_type: erp_type.to_owned(),
        payload: payload.to_string(),
    })
}

/// The key sent to the provider: the message type and the message's idempotency key, so one
/// ERP key reused for two different commands cannot collide. Hashed when longer than PayPal
/// accepts (108 characters).
pub fn request_key(message_type: &str, idempotency_key: &str) -> String {
    let key = format!("{message_type}:{idempotency_key}");
    if key.len() <= 100 {
        return key;
    }
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{message_type}:sha256:{hex}")
}

/// What stays as it is in a path segment: provider ids are letters, digits, `_` and `-`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'_').remove(b'-');

/// An id as one URL path segment (ids come from messages; `/` or `?` must not steer the call).
fn segment(id: &str) -> String {
    utf8_percent_encode(id, SEGMENT).to_string()
}

/// Sends `request` and reads the answer: the JSON body of a 2xx (`None` for 204), else
/// [`PaymentsError::Rejected`] with the provider's code as `error_code` reads it.
async fn reply(
    provider: &'static str,
    request: RequestBuilder,
    error_code: fn(&Value) -> (Option<String>, String),
) -> Result<Option<Value>, PaymentsError> {
    let transport = |source| PaymentsError::Transport { provider, source };
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let retry_after = http::retry_after(response.headers());
    let bytes = response.bytes().await.map_err(transport)?;
    if status == reqwest::StatusCode::NO_CONTENT {
        return Ok(None);
    }
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    if status.is_success() {
        return body
            .map(Some)
            .ok_or_else(|| PaymentsError::UnexpectedResponse {
                provider,
                detail: format!("{status} with a body that is not JSON"),
            });
    }
    let (code, message) = body.as_ref().map(error_code).unwrap_or_default();
    Err(PaymentsError::Rejected {
        provider,
        status: status.as_u16(),
        code,
        message,
        retry_after,
    })
}

/// A provider is up when it answers `GET {base_url}/` with anything below 500.
async fn probe(
    provider: &'static str,
    http: &reqwest::Client,
    base_url: &str,
) -> Result<(), PaymentsError> {
    let response = http
        .get(format!("{}/", base_url.trim_end_matches('/')))
        .send()
        .await
        .map_err(|source| PaymentsError::Transport { provider, source })?;
    let status = response.status().as_u16();
    if status >= 500 {
        return Err(PaymentsError::Rejected {
            provider,
            status,
            code: None,
            message: "the provider answers with server errors".into(),
            retry_after: None,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_keys_name_the_command_and_fit_paypal() {
        assert_eq!(request_key("payments.refund", "r-1"), "payments.refund:r-1");
        let long = request_key("payments.refund", &"k".repeat(200));
        assert!(long.len() <= 108, "{long}");
        assert_ne!(long, request_key("payments.refund", &"k".repeat(199)));
        assert_eq!(long, request_key("payments.refund", &"k".repeat(200)));
    }

    #[test]
    fn ids_cannot_steer_the_path() {
        assert_eq!(segment("sub_12-3"), "sub_12-3");
        assert_eq!(segment("../x?y"), "%2E%2E%2Fx%3Fy");
    }
}
