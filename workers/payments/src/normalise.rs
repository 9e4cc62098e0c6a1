//! What a provider event means for the ERP, before any state is consulted: a payment update
//! (which payment, the status the event implies, amounts in minor units), a subscription
//! change, or nothing we handle. One module per provider: `stripe.rs`, `paypal.rs`.

use serde_json::Value;
use switchyard_store::PaymentUpdate;

use crate::PaymentsError;

/// A provider event, understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Normalised {
    /// The event moves a payment.
    Payment {
        /// What it says about the payment.
        update: PaymentUpdate,
        /// The provider object the event is about (charge, refund, dispute, capture).
        object_id: String,
    },
    /// The event changes a subscription.
    Subscription {
        /// `true` for a cancellation, `false` for any other update.
        canceled: bool,
        /// The provider's subscription id.
        subscription_id: String,
        /// The provider's subscription status, as it names it.
        status: Option<String>,
    },
    /// A type we do not handle: acknowledged and counted as ignored.
    Ignored,
}

/// `value[key]` as a string, or a [`PaymentsError::Malformed`] naming `field`.
pub(crate) fn text<'a>(
    value: &'a Value,
    pointer: &str,
    provider: &'static str,
    event_type: &str,
    field: &'static str,
) -> Result<&'a str, PaymentsError> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| PaymentsError::Malformed {
            provider,
            event_type: event_type.to_owned(),
            field,
        })
}

/// The ERP's reference at `pointer`, if the provider object carries a non-empty one.
pub(crate) fn reference(value: &Value, pointer: &str) -> Option<String> {
    let text = value.pointer(pointer).and_then(Value::as_str)?.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Tests of the provider mappers: the payment update of `n`, which must be one.
#[cfg(test)]
pub(crate) fn payment_update(n: Normalised) -> PaymentUpdate {
    match n {
        Normalised::Payment { update, .. } => update,
        other => panic!("not a payment: {other:?}"),
    }
}
