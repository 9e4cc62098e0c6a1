//! `POST /v1/refunds` against a payment intent: partial refunds add up, and what is left to
//! refund is checked under the ledger's lock so concurrent refunds cannot overdraw it.

use serde_json::{Value, json};

use super::error::StripeError;
use super::{Call, created, events, new_id, now};
use crate::ledger::Objects;
use crate::pipeline::Executed;
use crate::state::AppState;

const REASONS: [&str; 3] = ["duplicate", "fraudulent", "requested_by_customer"];

/// A checked refund request.
struct Request<'a> {
    intent: &'a str,
    amount: Option<i64>,
    reason: Option<&'a str>,
    metadata: Value,
}

/// Refunds `amount` (default: all that is left) of a payment intent; sends `charge.refunded`.
pub(super) fn create(state: &AppState, call: &Call) -> Executed {
    let request = match validate(call) {
        Ok(request) => request,
        Err(err) => return Executed::Refused(err.reply()),
    };
    let refunded = state
        .stripe
        .ledger
        .with(|objects| refund(objects, &request));
    match refunded {
        Ok((refund, charge)) => {
            events::emit(state, "charge.refunded", charge);
            created(refund)
        }
        Err(err) => Executed::ran(err.reply()),
    }
}

fn validate(call: &Call) -> Result<Request<'_>, StripeError> {
    let params = &call.params;
    let intent = params.required("payment_intent")?;
    let amount = params.positive("amount")?;
    let reason = params.get("reason");
    if let Some(reason) = reason.filter(|r| !REASONS.contains(r)) {
        let message = format!(
            "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer (got {reason})"
        );
        return Err(StripeError::invalid(400, message).param("reason"));
    }
    Ok(Request {
        intent,
        amount,
        reason,
        metadata: params.metadata(),
    })
}

/// The refund and the charge as it stands after it, or why there is none.
fn refund(objects: &mut Objects, request: &Request) -> Result<(Value, Value), StripeError> {
    let missing = || StripeError::no_such("payment_intent", "payment_intent", request.intent);
    let intent = objects
        .get(request.intent)
        .filter(|o| o["object"] == "payment_intent");
    let charge_id = intent.ok_or_else(missing)?["latest_charge"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let charge = objects.get_mut(&charge_id).ok_or_else(missing)?;
    let total = charge["amount"].as_i64().unwrap_or_default();
    let already = charge["amount_refunded"].as_i64().unwrap_or_default();
    let left = total - already;
    if left <= 0 {
        let message = format!("Charge {charge_id} has already been refunded.");
        return Err(StripeError::invalid(400, message).code("charge_already_refunded"));
    }
    let amount = request.amount.unwrap_or(left);
    if amount > left {
        let currency = charge["currency"].as_str().unwrap_or_default();
        let message = format!(
            "Refund amount ({amount} {currency}) is greater than unrefunded amount on charge ({left} {currency})"
        );
        return Err(StripeError::invalid(400, message)
            .code("amount_too_large")
            .param("amount"));
    }
    charge["amount_refunded"] = (already + amount).into();
    charge["refunded"] = (already + amount == total).into();
    let charge = charge.clone();
    let refund = json!({
        "id": new_id("re_"),
        "object": "refund",
        "amount": amount,
        "charge": charge_id,
        "currency": charge["currency"],
        "payment_intent": request.intent,
        "status": "succeeded",
        "reason": request.reason,
        "metadata": request.metadata,
        "created": now(),
    });
    objects.put_refund(refund.clone());
    Ok((refund, charge))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idempotency::Reply;
    use serde_json::json;

    fn body(reply: &Reply) -> &Value {
        reply.body.as_ref().expect("error body")
    }

    fn paid(objects: &mut Objects, amount: i64) {
        objects.put(json!({"id": "pi_1", "object": "payment_intent", "latest_charge": "ch_1"}));
        objects.put(json!({"id": "ch_1", "object": "charge", "amount": amount,
            "amount_refunded": 0, "refunded": false, "currency": "usd"}));
    }

    fn request(amount: Option<i64>) -> Request<'static> {
        Request {
            intent: "pi_1",
            amount,
            reason: None,
            metadata: json!({}),
        }
    }

    #[test]
    fn partial_refunds_add_up_until_nothing_is_left() {
        let mut objects = Objects::default();
        paid(&mut objects, 1000);
        let (_, charge) = refund(&mut objects, &request(Some(400))).expect("first refund");
        assert_eq!(
            (
                charge["amount_refunded"].as_i64(),
                charge["refunded"].as_bool()
            ),
            (Some(400), Some(false))
        );
        let too_large = refund(&mut objects, &request(Some(601)))
            .expect_err("too large")
            .reply();
        assert_eq!(body(&too_large)["error"]["code"], "amount_too_large");
        let (rest, charge) = refund(&mut objects, &request(None)).expect("the rest");
        assert_eq!(
            (rest["amount"].as_i64(), charge["refunded"].as_bool()),
            (Some(600), Some(true))
        );
        let again = refund(&mut objects, &request(None))
            .expect_err("nothing left")
            .reply();
        assert_eq!(body(&again)["error"]["code"], "charge_already_refunded");
    }
}
