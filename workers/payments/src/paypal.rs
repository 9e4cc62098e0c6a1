//! PayPal events → [`Normalised`]. PayPal amounts are decimal strings (`{"currency_code":
//! "EUR", "value": "10.50"}`), converted exactly with the currency's exponent (`money.rs`).
//!
//! The ERP's reference is the capture's `custom_id`, which PayPal copies from the order's
//! purchase unit (the checkout sets it to the reference). A refund's `custom_id` is whatever the
//! refund request set, not the capture's, and a dispute has none: their reference comes from
//! the stored payment.

use serde_json::Value;
use switchyard_store::{PaymentStatus, PaymentUpdate};

use crate::PaymentsError;
use crate::money;
use crate::normalise::{Normalised, reference, text};

const PROVIDER: &str = "paypal";

/// Understands one PayPal event body (`{"id", "event_type", "resource": …}`).
pub fn normalise(event: &Value, tenant: Option<&str>) -> Result<Normalised, PaymentsError> {
    let kind = event["event_type"].as_str().unwrap_or_default();
    let resource = &event["resource"];
    let named = match kind {
        "PAYMENT.CAPTURE.COMPLETED" | "PAYMENT.CAPTURE.DENIED" => reference(resource, "/custom_id"),
        _ => None,
    };
    let id = || text(resource, "/id", PROVIDER, kind, "resource.id");
    let payment = |status, payment_id: &str, money_at: &str, refunded: bool, disputed| {
        let (minor, currency) = amount(resource, money_at, kind)?;
        let (amount, amount_refunded) = match (refunded, disputed) {
            (true, _) => (None, Some(refunded_total(resource, kind)?.unwrap_or(minor))),
            (false, true) => (None, None),
            (false, false) => (Some(minor), None),
        };
        Ok(Normalised::Payment {
            update: PaymentUpdate {
                provider: PROVIDER.into(),
                payment_id: payment_id.to_owned(),
                tenant: tenant.map(str::to_owned),
                status,
                amount,
                amount_refunded,
                currency: Some(currency),
                disputed,
                reference: named.clone(),
            },
            object_id: text(
                resource,
                if disputed { "/dispute_id" } else { "/id" },
                PROVIDER,
                kind,
                "resource.id",
            )?
            .to_owned(),
        })
    };
    match kind {
        "PAYMENT.CAPTURE.COMPLETED" => {
            payment(PaymentStatus::Succeeded, id()?, "/amount", false, false)
        }
        "PAYMENT.CAPTURE.DENIED" => payment(PaymentStatus::Failed, id()?, "/amount", false, false),
        "PAYMENT.CAPTURE.REFUNDED" => {
            let capture = captured_by(resource).ok_or_else(|| PaymentsError::Malformed {
                provider: PROVIDER,
                event_type: kind.to_owned(),
                field: "resource.links[rel=up] (the refunded capture)",
            })?;
            payment(
                PaymentStatus::PartiallyRefunded,
                &capture,
                "/amount",
                true,
                false,
            )
        }
        "CUSTOMER.DISPUTE.CREATED" => {
            let capture = text(
                resource,
                "/disputed_transactions/0/seller_transaction_id",
                PROVIDER,
                kind,
                "resource.disputed_transactions[0].seller_transaction_id",
            )?;
            payment(
                PaymentStatus::Succeeded,
                capture,
                "/dispute_amount",
                false,
                true,
            )
        }
        "BILLING.SUBSCRIPTION.UPDATED" | "BILLING.SUBSCRIPTION.CANCELLED" => {
            Ok(Normalised::Subscription {
                canceled: kind == "BILLING.SUBSCRIPTION.CANCELLED",
                subscription_id: id()?.to_owned(),
                status: resource["status"].as_str().map(str::to_owned),
            })
        }
        _ => Ok(Normalised::Ignored),
    }
}

/// `resource[at]` as `(minor units, currency)`.
fn amount(resource: &Value, at: &str, kind: &str) -> Result<(i64, String), PaymentsError> {
    let money = &resource.pointer(at).cloned().unwrap_or_default();
    let currency = text(
        money,
        "/currency_code",
        PROVIDER,
        kind,
        "amount.currency_code",
    )?;
    let value = text(money, "/value", PROVIDER, kind, "amount.value")?;
    let minor = money::to_minor(value, currency).ok_or_else(|| PaymentsError::Malformed {
        provider: PROVIDER,
        event_type: kind.to_owned(),
        field: "amount.value (not an exact amount in its currency)",
    })?;
    Ok((minor, currency.to_owned()))
}

/// The capture's refunded total, when the refund names it (`seller_payable_breakdown`);
/// otherwise the caller takes this refund's amount.
fn refunded_total(resource: &Value, kind: &str) -> Result<Option<i64>, PaymentsError> {
    let at = "/seller_payable_breakdown/total_refunded_amount";
    if resource.pointer(at).is_none() {
        return Ok(None);
    }
    Ok(Some(amount(resource, at, kind)?.0))
}

/// The capture a refund belongs to: the last path segment of its `rel: "up"` link.
fn captured_by(refund: &Value) -> Option<String> {
    let links = refund["links"].as_array()?;
    let up = links.iter().find(|l| l["rel"] == "up")?;
    let href = up["href"].as_str()?;
    href.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::payment_update as update;
    use serde_json::json;

    #[test]
    fn a_completed_capture_in_euros_is_in_cents() {
        let e = json!({"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED",
            "resource": {"id": "CAP1", "amount": {"currency_code": "EUR", "value": "10.50"}}});
        let u = update(normalise(&e, None).unwrap());
        assert_eq!((u.amount, u.currency.as_deref()), (Some(1050), Some("EUR")));
        assert_eq!(u.status, PaymentStatus::Succeeded);
        assert_eq!(u.payment_id, "CAP1");
    }

    #[test]
    fn a_refund_is_filed_under_its_capture_with_the_refunded_total() {
        let e = json!({"event_type": "PAYMENT.CAPTURE.REFUNDED", "resource": {"id": "REF1",
            "amount": {"currency_code": "JPY", "value": "500"},
            "seller_payable_breakdown": {"total_refunded_amount": {"currency_code": "JPY", "value": "800"}},
            "links": [{"rel": "self", "href": "https://api.paypal.com/v2/payments/refunds/REF1"},
                      {"rel": "up", "href": "https://api.paypal.com/v2/payments/captures/CAP1"}]}});
        let Normalised::Payment { update, object_id } = normalise(&e, None).unwrap() else {
            panic!()
        };
        assert_eq!(update.payment_id, "CAP1");
        assert_eq!(object_id, "REF1");
        assert_eq!(update.amount_refunded, Some(800));
        assert_eq!(update.amount, None);
    }

    #[test]
    fn disputes_subscriptions_unknown_and_inexact_amounts() {
        let d = json!({"event_type": "CUSTOMER.DISPUTE.CREATED", "resource": {"dispute_id": "PP-D-1",
            "dispute_amount": {"currency_code": "USD", "value": "5.00"},
            "disputed_transactions": [{"seller_transaction_id": "CAP1"}]}});
        let u = update(normalise(&d, None).unwrap());
        assert!(u.disputed);
        assert_eq!(u.payment_id, "CAP1");
        let s = json!({"event_type": "BILLING.SUBSCRIPTION.CANCELLED", "resource": {"id": "I-1", "status": "CANCELLED"}});
        assert!(matches!(
            normalise(&s, None).unwrap(),
            Normalised::Subscription { canceled: true, .. }
        ));
        let other = json!({"event_type": "CHECKOUT.ORDER.APPROVED", "resource": {}});
        assert_eq!(normalise(&other, None).unwrap(), Normalised::Ignored);
        let inexact = json!({"event_type": "PAYMENT.CAPTURE.COMPLETED",
            "resource": {"id": "CAP2", "amount": {"currency_code": "JPY", "value": "10.5"}}});
        assert!(normalise(&inexact, None).is_err());
    }

    #[test]
    fn the_reference_is_the_capture_s_custom_id_and_never_a_refund_s() {
        let e = json!({"id": "WH-2", "event_type": "PAYMENT.CAPTURE.COMPLETED",
            "resource": {"id": "CAP1", "custom_id": "fee-2026-T1-0042",
                "amount": {"currency_code": "GBP", "value": "45.00"}}});
        let u = update(normalise(&e, None).unwrap());
        assert_eq!(u.reference.as_deref(), Some("fee-2026-T1-0042"));
        let without = json!({"event_type": "PAYMENT.CAPTURE.DENIED",
            "resource": {"id": "CAP2", "amount": {"currency_code": "GBP", "value": "1.00"}}});
        assert_eq!(update(normalise(&without, None).unwrap()).reference, None);
        let refund = json!({"event_type": "PAYMENT.CAPTURE.REFUNDED", "resource": {"id": "REF1",
            "custom_id": "refund-request-7", "amount": {"currency_code": "GBP", "value": "5.00"},
            "links": [{"rel": "up", "href": "https://api.paypal.com/v2/payments/captures/CAP1"}]}});
        assert_eq!(update(normalise(&refund, None).unwrap()).reference, None);
    }
}
