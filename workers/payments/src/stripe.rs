//! Stripe events → [`Normalised`]. Stripe amounts are already integers in the currency's minor
//! unit (zero-decimal currencies included), and currencies are lower case ISO codes.
//!
//! The ERP's reference is `metadata.reference`: the checkout sets it through
//! `payment_intent_data[metadata]`, so the PaymentIntent carries it, and Stripe copies a
//! PaymentIntent's metadata onto the charge it creates, so `charge.refunded` carries it too. A
//! dispute's metadata is its own (empty): its reference comes from the stored payment.

use serde_json::Value;
use switchyard_store::{PaymentStatus, PaymentUpdate};

use crate::PaymentsError;
use crate::normalise::{Normalised, reference, text};

const PROVIDER: &str = "stripe";

/// Understands one Stripe event body (`{"id", "type", "data": {"object": …}}`).
pub fn normalise(event: &Value, tenant: Option<&str>) -> Result<Normalised, PaymentsError> {
    let kind = event["type"].as_str().unwrap_or_default();
    let object = &event["data"]["object"];
    let named = match kind {
        "charge.dispute.created" => None,
        _ => reference(object, "/metadata/reference"),
    };
    let payment = |status, payment_id: &str, amount, refunded, disputed| -> Result<_, _> {
        Ok(Normalised::Payment {
            update: PaymentUpdate {
                provider: PROVIDER.into(),
                payment_id: payment_id.to_owned(),
                tenant: tenant.map(str::to_owned),
                status,
                amount,
                amount_refunded: refunded,
                currency: Some(
                    text(object, "/currency", PROVIDER, kind, "currency")?.to_uppercase(),
                ),
                disputed,
                reference: named.clone(),
            },
            object_id: text(object, "/id", PROVIDER, kind, "data.object.id")?.to_owned(),
        })
    };
    let id = || text(object, "/id", PROVIDER, kind, "data.object.id");
    let amount = |field| object[field].as_i64();
    match kind {
        "payment_intent.succeeded" => payment(
            PaymentStatus::Succeeded,
            id()?,
            amount("amount"),
            None,
            false,
        ),
        "payment_intent.payment_failed" => {
            payment(PaymentStatus::Failed, id()?, amount("amount"), None, false)
        }
        "charge.refunded" => {
            let status = if object["refunded"].as_bool() == Some(true) {
                PaymentStatus::Refunded
            } else {
                PaymentStatus::PartiallyRefunded
            };
            let refunded = amount("amount_refunded");
            payment(
                status,
                payment_of(object, id()?),
                amount("amount"),
                refunded,
                false,
            )
        }
        // The dispute's amount is what is contested, not the payment's: not recorded as it.
        "charge.dispute.created" => {
            let charge = text(object, "/charge", PROVIDER, kind, "data.object.charge")?;
            payment(
                PaymentStatus::Succeeded,
                payment_of(object, charge),
                None,
                None,
                true,
            )
        }
        "customer.subscription.updated" | "customer.subscription.deleted" => {
            Ok(Normalised::Subscription {
                canceled: kind == "customer.subscription.deleted",
                subscription_id: id()?.to_owned(),
                status: object["status"].as_str().map(str::to_owned),
            })
        }
        _ => Ok(Normalised::Ignored),
    }
}

/// Charges, refunds and disputes name their PaymentIntent, which is the payment's identity;
/// a charge made without one (legacy Charges API) is its own payment.
fn payment_of<'a>(object: &'a Value, fallback: &'a str) -> &'a str {
    object["payment_intent"].as_str().unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::payment_update as update;
    use serde_json::json;

    #[test]
    fn payment_intent_succeeded_is_a_succeeded_payment_in_minor_units() {
        let e = json!({"id": "evt_1", "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_1", "amount": 2000, "currency": "usd"}}});
        let u = update(normalise(&e, Some("lincoln")).unwrap());
        assert_eq!(u.payment_id, "pi_1");
        assert_eq!(u.status, PaymentStatus::Succeeded);
        assert_eq!(u.amount, Some(2000));
        assert_eq!(u.currency.as_deref(), Some("USD"));
        assert_eq!(u.tenant.as_deref(), Some("lincoln"));
    }

    #[test]
    fn a_refunded_charge_is_filed_under_its_payment_intent() {
        let e = json!({"id": "evt_2", "type": "charge.refunded", "data": {"object": {
            "id": "ch_1", "payment_intent": "pi_1", "amount": 2000, "amount_refunded": 500,
            "refunded": false, "currency": "eur"}}});
        let Normalised::Payment { update, object_id } = normalise(&e, None).unwrap() else {
            panic!()
        };
        assert_eq!(update.payment_id, "pi_1");
        assert_eq!(object_id, "ch_1");
        assert_eq!(update.status, PaymentStatus::PartiallyRefunded);
        assert_eq!(update.amount_refunded, Some(500));
    }

    #[test]
    fn disputes_subscriptions_and_unknown_types() {
        let dispute = json!({"type": "charge.dispute.created", "data": {"object": {
            "id": "dp_1", "charge": "ch_1", "amount": 2000, "currency": "usd"}}});
        let u = update(normalise(&dispute, None).unwrap());
        assert!(u.disputed);
        assert_eq!(u.payment_id, "ch_1");
        let sub = json!({"type": "customer.subscription.deleted",
            "data": {"object": {"id": "sub_1", "status": "canceled"}}});
        assert!(matches!(normalise(&sub, None).unwrap(),
            Normalised::Subscription { canceled: true, ref subscription_id, .. } if subscription_id == "sub_1"));
        let other = json!({"type": "invoice.created", "data": {"object": {}}});
        assert_eq!(normalise(&other, None).unwrap(), Normalised::Ignored);
        let broken = json!({"type": "payment_intent.succeeded", "data": {"object": {"id": "pi"}}});
        assert!(matches!(
            normalise(&broken, None),
            Err(PaymentsError::Malformed {
                field: "currency",
                ..
            })
        ));
    }

    #[test]
    fn the_reference_is_read_from_the_payment_intent_and_the_charge_metadata() {
        let intent = json!({"id": "evt_3", "type": "payment_intent.succeeded", "data": {"object": {
            "id": "pi_1", "amount": 2000, "currency": "gbp",
            "metadata": {"reference": "fee-2026-T1-0042", "tenant": "lincoln"}}}});
        let u = update(normalise(&intent, None).unwrap());
        assert_eq!(u.reference.as_deref(), Some("fee-2026-T1-0042"));
        let charge = json!({"id": "evt_4", "type": "charge.refunded", "data": {"object": {
            "id": "ch_1", "payment_intent": "pi_1", "amount": 2000, "amount_refunded": 500,
            "refunded": false, "currency": "gbp", "metadata": {"reference": "fee-2026-T1-0042"}}}});
        let u = update(normalise(&charge, None).unwrap());
        assert_eq!(u.reference.as_deref(), Some("fee-2026-T1-0042"));
        // None when absent or empty; a dispute's own metadata is not the payment's.
        let bare = json!({"id": "evt_5", "type": "payment_intent.payment_failed", "data": {"object": {
            "id": "pi_2", "amount": 2000, "currency": "gbp", "metadata": {"reference": ""}}}});
        assert_eq!(update(normalise(&bare, None).unwrap()).reference, None);
        let dispute = json!({"type": "charge.dispute.created", "data": {"object": {
            "id": "dp_1", "charge": "ch_1", "payment_intent": "pi_1", "currency": "gbp",
            "metadata": {"reference": "not-the-fee"}}}});
        assert_eq!(update(normalise(&dispute, None).unwrap()).reference, None);
    }
}
