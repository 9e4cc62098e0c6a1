//! `POST /v1/subscriptions` and `DELETE /v1/subscriptions/{id}`. Subscriptions start
//! `active` (the sandbox's customers always have a card on file), except for the magic
//! customer `cus_card_declined`, whose card is declined.

use serde_json::{Value, json};

use super::error::StripeError;
use super::{Call, created, events, new_id, now};
use crate::idempotency::Reply;
use crate::pipeline::Executed;
use crate::state::AppState;

/// The customer whose card is always declined (402 `card_declined`).
const DECLINED_CUSTOMER: &str = "cus_card_declined";

/// Subscribes a customer to one or more prices; sends `customer.subscription.created`.
pub(super) fn create(state: &AppState, call: &Call) -> Executed {
    let (customer, prices) = match validate(call) {
        Ok(valid) => valid,
        Err(err) => return Executed::Refused(err.reply()),
    };
    if customer == DECLINED_CUSTOMER {
        return Executed::ran(StripeError::card_declined().reply());
    }
    let id = new_id("sub_");
    let items: Vec<Value> = prices
        .iter()
        .map(|price| {
            json!({
                "id": new_id("si_"), "object": "subscription_item", "subscription": id,
                "price": {"id": price, "object": "price"}, "quantity": 1,
            })
        })
        .collect();
    let subscription = json!({
        "id": id,
        "object": "subscription",
        "status": "active",
        "customer": customer,
        "items": {
            "object": "list", "data": items, "has_more": false, "total_count": prices.len(),
            "url": format!("/v1/subscription_items?subscription={id}"),
        },
        "metadata": call.params.metadata(),
        "cancel_at_period_end": false,
        "canceled_at": null,
        "ended_at": null,
        "created": now(),
        "livemode": false,
    });
    state
        .stripe
        .ledger
        .with(|objects| objects.put(subscription.clone()));
    events::emit(state, "customer.subscription.created", subscription.clone());
    created(subscription)
}

/// The customer and the `items[i][price]` ids, every missing field named in full.
fn validate(call: &Call) -> Result<(String, Vec<String>), StripeError> {
    let params = &call.params;
    let customer = params.required("customer")?.to_owned();
    if !params.has_list("items") {
        return Err(StripeError::missing("items"));
    }
    let mut prices = Vec::new();
    for i in 0.. {
        if !params.has_list(&format!("items[{i}]")) {
            break;
        }
        prices.push(params.required(&format!("items[{i}][price]"))?.to_owned());
    }
    Ok((customer, prices))
}

/// Cancels now; sends `customer.subscription.deleted`. Cancelling a cancelled subscription
/// answers it as it is and sends nothing again.
pub(super) fn cancel(state: &AppState, call: &Call) -> Executed {
    let id = call.id.as_str();
    let canceled = state.stripe.ledger.with(|objects| {
        let subscription = objects
            .get_mut(id)
            .filter(|o| o["object"] == "subscription")?;
        let first_time = subscription["status"] != "canceled";
        if first_time {
            subscription["status"] = "canceled".into();
            subscription["canceled_at"] = now().into();
            subscription["ended_at"] = now().into();
        }
        Some((subscription.clone(), first_time))
    });
    let Some((subscription, first_time)) = canceled else {
        let missing = StripeError::no_such("subscription", "id", id);
        return Executed::ran(missing.reply());
    };
    if first_time {
        events::emit(state, "customer.subscription.deleted", subscription.clone());
    }
    Executed::ran(Reply::json(200, subscription))
}
