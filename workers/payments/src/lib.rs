//! Two payments workers.
//!
//! - [`PaymentsWorker`] (queue `payments`): verified `stripe.event` / `paypal.event` webhooks →
//!   a forward-only `payments` table and normalised ERP events (`erp.payment.succeeded`,
//!   `erp.payment.failed`, `erp.refund.succeeded`, `erp.dispute.opened`,
//!   `erp.subscription.updated`, `erp.subscription.canceled`) published, confirmed, on the main
//!   exchange. Described below.
//! - [`PaymentCommandsWorker`] (queue `payment_commands`): the ERP's checkout, refund and
//!   subscription commands carried out at Stripe and PayPal with idempotency keys; see
//!   `commands/`.
//!
//! Where things are decided: what a provider event means is `stripe.rs` / `paypal.rs`; how a
//! payment moves (forward only) is `switchyard_store::PaymentState::merge`; which ERP event a
//! move causes is `erp.rs`.
//!
//! Order of effects, all in one Postgres transaction: record the provider event and move the
//! payment row, record the ERP event (outbox row), publish it and wait for the confirm, mark it
//! published, commit. A failed publish rolls everything back and the delivery is retried
//! afresh; a crash after the confirm but before the commit also leaves nothing, so the
//! redelivery publishes the same ERP event again, with the same envelope id. The ERP may see
//! an event twice after a crash (drop it by id), never lose one. A concurrent delivery of the
//! same provider event waits on the outbox row and then finds it applied and published.

pub mod commands;
mod erp;
mod error;
pub mod job;
pub mod money;
mod normalise;
pub mod paypal;
pub mod stripe;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use switchyard_contract::{DeliveryContext, Done, Worker};
use switchyard_store::{Applied, ApplyError, PendingErpEvent, Store};
use switchyard_telemetry::Metrics;

pub use commands::PaymentCommandsWorker;
pub use erp::ErpEvents;
pub use error::PaymentsError;
pub use job::{PaymentCommand, PaymentsJob, Provider, WebhookEvent};
pub use normalise::Normalised;

/// The payments worker.
pub struct PaymentsWorker {
    store: Store,
    events: ErpEvents,
    metrics: Metrics,
}

impl PaymentsWorker {
    /// A worker recording in `store` and announcing through `events`.
    pub fn new(store: Store, events: ErpEvents, metrics: Metrics) -> Self {
        Self {
            store,
            events,
            metrics,
        }
    }

    async fn take(
        &self,
        provider: &'static str,
        webhook: WebhookEvent,
        ctx: &DeliveryContext,
    ) -> Result<Done, PaymentsError> {
        let event = &webhook.event;
        let normalised = match provider {
            "stripe" => stripe::normalise(event, ctx.tenant.as_deref())?,
            _ => paypal::normalise(event, ctx.tenant.as_deref())?,
        };
        let event_id = event["id"].as_str().unwrap_or(&ctx.message_id).to_owned();
        if normalised == Normalised::Ignored {
            tracing::info!(provider, event_type = ?webhook.event_type, "event type not handled; ignored");
            self.metrics.payment_event(provider, "ignored");
            return Ok(Done::default());
        }
        let applied = self.apply(provider, &event_id, &normalised, ctx).await?;
        let result = match applied {
            Applied::Fresh(Some(_)) => "applied",
            Applied::Fresh(None) | Applied::Again(_) => "unchanged",
        };
        self.metrics.payment_event(provider, result);
        Ok(Done {
            provider_ref: Some(event_id),
        })
    }

    async fn apply(
        &self,
        provider: &'static str,
        event_id: &str,
        normalised: &Normalised,
        ctx: &DeliveryContext,
    ) -> Result<Applied, PaymentsError> {
        let events = &self.events;
        let publish = move |pending: PendingErpEvent| async move {
            events.publish(provider, event_id, &pending, ctx).await
        };
        let applied = match normalised {
            Normalised::Payment { update, object_id } => {
                let erp_of = Box::new(move |before: Option<&_>, after: Option<&_>| {
                    let after = after?;
                    let erp_type = erp::type_of(before, after)?;
                    let payload = erp::payment_payload(
                        provider,
                        &update.payment_id,
                        object_id,
                        event_id,
                        after,
                    );
                    Some(pending(erp_type, &payload))
                });
                self.store
                    .apply_payment_event(provider, event_id, Some(update), erp_of, publish)
                    .await
            }
            Normalised::Subscription {
                canceled,
                subscription_id,
                status,
            } => {
                let erp_type = if *canceled {
                    "erp.subscription.canceled"
                } else {
                    "erp.subscription.updated"
                };
                let payload = json!({
                    "provider": provider,
                    "subscription_id": subscription_id,
                    "provider_event_id": event_id,
                    "status": status,
                });
                let event = pending(erp_type, &payload);
                let erp_of = Box::new(move |_: Option<&_>, _: Option<&_>| Some(event));
                self.store
                    .apply_payment_event(provider, event_id, None, erp_of, publish)
                    .await
            }
            Normalised::Ignored => Ok(Applied::Fresh(None)),
        };
        applied.map_err(|e| match e {
            ApplyError::Store(e) => PaymentsError::Store(e),
            ApplyError::Publish(e) => e,
        })
    }
}

fn pending(erp_type: &str, payload: &Value) -> PendingErpEvent {
    PendingErpEvent {
        erp_type: erp_type.to_owned(),
        payload: payload.to_string(),
    }
}

impl Worker for PaymentsWorker {
    const NAME: &'static str = "payments";
    type Job = PaymentsJob;
    type Error = PaymentsError;

    async fn handle(&self, job: PaymentsJob, ctx: &DeliveryContext) -> Result<Done, PaymentsError> {
        match job {
            PaymentsJob::Stripe(event) => self.take("stripe", event, ctx).await,
            PaymentsJob::Paypal(event) => self.take("paypal", event, ctx).await,
        }
    }

    /// Applying an event is idempotent by itself (the `payment_events` outbox), so no
    /// idempotency claim is needed: a redelivery re-runs and finds the event applied.
    fn has_side_effect(&self, job: &PaymentsJob) -> bool {
        match job {
            PaymentsJob::Stripe(_) | PaymentsJob::Paypal(_) => false,
        }
    }

    async fn reconcile(
        &self,
        _job: &PaymentsJob,
        _ctx: &DeliveryContext,
        _since: DateTime<Utc>,
    ) -> Result<Option<Done>, PaymentsError> {
        Ok(None)
    }

    /// No provider is called: nothing to probe.
    async fn probe(&self) -> Result<(), PaymentsError> {
        Ok(())
    }
}
