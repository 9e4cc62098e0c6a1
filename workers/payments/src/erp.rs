//! The ERP events: which one a change of stored state causes, what it carries, and publishing
//! it (confirmed) on the main exchange with the message type as routing key.

use chrono::Utc;
use serde_json::{Value, json};
use switchyard_broker::{PublishError, Publisher, properties};
use switchyard_contract::{DeliveryContext, Envelope};
use switchyard_store::{PaymentState, PaymentStatus, PendingErpEvent};

use crate::PaymentsError;

/// The ERP event a move from `before` to `after` announces, if it is news. Derived from the
/// stored state, not from the provider event's type, so what the ERP hears always matches the
/// row: a refund that arrived first is a refund, and the late `succeeded` after it is no news.
pub fn type_of(before: Option<&PaymentState>, after: &PaymentState) -> Option<&'static str> {
    if !after.is_news_after(before) {
        return None;
    }
    if after.disputed && !before.is_some_and(|b| b.disputed) {
        return Some("erp.dispute.opened");
    }
    match after.status {
        PaymentStatus::Pending => None,
        PaymentStatus::Failed => Some("erp.payment.failed"),
        PaymentStatus::Succeeded => Some("erp.payment.succeeded"),
        PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded => Some("erp.refund.succeeded"),
    }
}

/// The payload of a payment, refund or dispute event. `reference` is the stored row's, so a
/// refund or dispute whose provider object does not name it still carries the payment's.
pub fn payment_payload(
    provider: &str,
    payment_id: &str,
    object_id: &str,
    event_id: &str,
    state: &PaymentState,
) -> Value {
    json!({
        "provider": provider,
        "payment_id": payment_id,
        "object_id": object_id,
        "provider_event_id": event_id,
        "status": state.status.as_str(),
        "amount": state.amount,
        "amount_refunded": state.amount_refunded,
        "currency": state.currency,
        "disputed": state.disputed,
        "reference": state.reference,
    })
}

/// Where ERP events go.
#[derive(Clone)]
pub struct ErpEvents {
    publisher: Publisher,
    exchange: String,
}

impl ErpEvents {
    /// Publishes with `publisher` to `exchange` (the main exchange).
    pub fn new(publisher: Publisher, exchange: String) -> Self {
        Self {
            publisher,
            exchange,
        }
    }

    /// Publishes `event`, caused by provider event `event_id`, and waits for the confirm. The
    /// envelope id is derived from the provider event, so a republish after a crash carries
    /// the same id and the ERP can drop the copy.
    pub async fn publish(
        &self,
        provider: &str,
        event_id: &str,
        event: &PendingErpEvent,
        ctx: &DeliveryContext,
    ) -> Result<(), PaymentsError> {
        let id: String = format!("{provider}-{event_id}").chars().take(190).collect();
        let envelope = Envelope {
            id: format!("{id}-erp"),
            message_type: event.erp_type.clone(),
            tenant: ctx.tenant.clone(),
            occurred_at: Utc::now(),
            correlation_id: ctx.correlation_id.clone(),
            causation_id: Some(ctx.message_id.clone()),
            idempotency_key: None,
            payload: serde_json::from_str(&event.payload).unwrap_or(Value::Null),
        };
        let body = serde_json::to_vec(&envelope).unwrap_or_default();
        let props =
            properties::for_envelope(&envelope.id, &event.erp_type, ctx.correlation_id.as_deref());
        match self
            .publisher
            .publish(&self.exchange, &event.erp_type, &body, props, true)
            .await
        {
            Ok(()) => Ok(()),
            // Nobody bound the routing key: like any topic event, it is for whoever listens.
            Err(PublishError::Unroutable(_)) => {
                tracing::warn!(erp_type = %event.erp_type, "no queue is bound to this ERP event");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_contract::catalogue;

    fn state(reference: Option<&str>) -> PaymentState {
        PaymentState {
            tenant: None,
            status: PaymentStatus::PartiallyRefunded,
            amount: Some(4500),
            amount_refunded: 500,
            currency: Some("GBP".into()),
            disputed: false,
            reference: reference.map(str::to_owned),
        }
    }

    #[test]
    fn the_payload_carries_the_row_s_reference_and_matches_every_payment_schema() {
        for reference in [Some("fee-2026-T1-0042"), None] {
            let payload = payment_payload("paypal", "CAP1", "REF1", "WH-1", &state(reference));
            assert_eq!(payload["reference"].as_str(), reference);
            for erp_type in [
                "erp.payment.succeeded",
                "erp.payment.failed",
                "erp.refund.succeeded",
                "erp.dispute.opened",
            ] {
                let checked = catalogue::validate(erp_type, &payload);
                assert!(checked.is_ok(), "{erp_type}: {checked:?}");
            }
        }
    }
}
