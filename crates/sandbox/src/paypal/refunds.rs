//! `POST /v2/payments/captures/{id}/refund`: all that is left (no body) or a part of it;
//! partial refunds add up, checked under the ledger's lock.

use serde_json::{Value, json};

use super::amount::{money, to_minor};
use super::error::PayPalError;
use super::{Call, created, events, link, new_id, now};
use crate::ledger::Objects;
use crate::pipeline::Executed;
use crate::state::AppState;

/// Refunds (part of) capture `call.id`; sends `PAYMENT.CAPTURE.REFUNDED`.
pub(super) fn create(state: &AppState, call: &Call) -> Executed {
    let requested = match requested_amount(&call.body) {
        Ok(requested) => requested,
        Err(err) => return Executed::Refused(err.reply()),
    };
    let refunded = state
        .paypal
        .ledger
        .with(|objects| refund(state, objects, call, requested));
    match refunded {
        Ok(refund) => {
            let amount = &refund["amount"];
            let summary = format!(
                "A {} {} capture payment was refunded",
                amount["value"].as_str().unwrap_or_default(),
                amount["currency_code"].as_str().unwrap_or_default()
            );
            events::emit(
                state,
                "PAYMENT.CAPTURE.REFUNDED",
                "refund",
                summary,
                refund.clone(),
            );
            created(refund)
        }
        Err(err) => Executed::ran(err.reply()),
    }
}

/// `amount: {value, currency_code}` if sent, both fields required then.
fn requested_amount(body: &Value) -> Result<Option<(String, String)>, PayPalError> {
    let amount = &body["amount"];
    if amount.is_null() {
        return Ok(None);
    }
    let field = |name: &str| {
        amount[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| PayPalError::missing(&format!("/amount/{name}")))
    };
    Ok(Some((field("value")?, field("currency_code")?)))
}

/// The refund, or why there is none.
fn refund(
    state: &AppState,
    objects: &mut Objects,
    call: &Call,
    requested: Option<(String, String)>,
) -> Result<Value, PayPalError> {
    let capture_id = call.id.as_str();
    let capture = objects
        .get(capture_id)
        .filter(|c| c["final_capture"].is_boolean())
        .ok_or_else(PayPalError::not_found)?;
    let currency = capture["amount"]["currency_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let total = capture["amount"]["value"]
        .as_str()
        .and_then(|v| to_minor(v, &currency))
        .unwrap_or_default();
    let left = total - objects.refunded(capture_id);
    if left <= 0 {
        return Err(PayPalError::unprocessable(
            "CAPTURE_FULLY_REFUNDED",
            "The capture has already been fully refunded",
        ));
    }
    let amount = match requested {
        None => left,
        Some((_, asked_currency)) if asked_currency != currency => {
            let description =
                "The currency code is different from the currency code of the capture.";
            return Err(PayPalError::unprocessable("CURRENCY_MISMATCH", description));
        }
        Some((value, _)) => match to_minor(&value, &currency) {
            Some(minor) if minor > 0 => minor,
            _ => {
                let description = "The value of a field does not conform to the expected format.";
                return Err(PayPalError::invalid(
                    "/amount/value",
                    Some(&value),
                    "INVALID_PARAMETER_SYNTAX",
                    description,
                ));
            }
        },
    };
    if amount > left {
        let description = "The refund amount must be less than or equal to the capture amount that has not yet been refunded.";
        return Err(PayPalError::unprocessable(
            "REFUND_AMOUNT_EXCEEDED",
            description,
        ));
    }
    let refunded_total = objects.add_refunded(capture_id, amount);
    let status = if refunded_total == total {
        "REFUNDED"
    } else {
        "PARTIALLY_REFUNDED"
    };
    if let Some(capture) = objects.get_mut(capture_id) {
        capture["status"] = status.into();
    }
    let id = new_id(17);
    let refund = json!({
        "id": id,
        "status": "COMPLETED",
        "amount": money(amount, &currency),
        "note_to_payer": call.body["note_to_payer"],
        "invoice_id": call.body["invoice_id"],
        // The refund request's own `custom_id`, if it set one: PayPal does not document
        // copying the capture's onto its refunds, so neither does the sandbox.
        "custom_id": call.body["custom_id"],
        "seller_payable_breakdown": {
            "gross_amount": money(amount, &currency),
            "paypal_fee": money(0, &currency),
            "net_amount": money(amount, &currency),
            "total_refunded_amount": money(refunded_total, &currency),
        },
        "links": [
            link(state, &format!("/v2/payments/refunds/{id}"), "self", "GET"),
            link(state, &format!("/v2/payments/captures/{capture_id}"), "up", "GET"),
        ],
        "create_time": now(),
        "update_time": now(),
    });
    objects.put_refund(refund.clone());
    Ok(refund)
}
