//! `POST /v1/billing/subscriptions` (waiting for the subscriber's approval) and
//! `POST /v1/billing/subscriptions/{id}/cancel`.

use serde_json::json;

use super::error::PayPalError;
use super::{Call, created, events, link, new_id, now};
use crate::idempotency::Reply;
use crate::pipeline::Executed;
use crate::state::AppState;

/// Creates a subscription to `plan_id`; sends `BILLING.SUBSCRIPTION.CREATED`.
pub(super) fn create(state: &AppState, call: &Call) -> Executed {
    let Some(plan_id) = call.body["plan_id"].as_str().filter(|p| !p.is_empty()) else {
        return Executed::Refused(PayPalError::missing("/plan_id").reply());
    };
    let id = format!("I-{}", new_id(12));
    let subscription = json!({
        "id": id,
        "status": "APPROVAL_PENDING",
        "status_update_time": now(),
        "plan_id": plan_id,
        "custom_id": call.body["custom_id"],
        "subscriber": call.body["subscriber"],
        "plan_overridden": false,
        "create_time": now(),
        "links": [
            link(state, &format!("/_sandbox/paypal/webapps/billing/subscriptions?ba_token={id}"), "approve", "GET"),
            link(state, &format!("/v1/billing/subscriptions/{id}"), "edit", "PATCH"),
            link(state, &format!("/v1/billing/subscriptions/{id}"), "self", "GET"),
        ],
    });
    state
        .paypal
        .ledger
        .with(|objects| objects.put(subscription.clone()));
    let summary = "Subscription created".to_owned();
    events::emit(
        state,
        "BILLING.SUBSCRIPTION.CREATED",
        "subscription",
        summary,
        subscription.clone(),
    );
    created(subscription)
}

/// Cancels subscription `call.id` (204); sends `BILLING.SUBSCRIPTION.CANCELLED`.
pub(super) fn cancel(state: &AppState, call: &Call) -> Executed {
    if call.body["reason"].as_str().is_none_or(str::is_empty) {
        return Executed::Refused(PayPalError::missing("/reason").reply());
    }
    let cancelled = state.paypal.ledger.with(|objects| {
        let subscription = objects.get_mut(&call.id).filter(|s| s["plan_id"].is_string());
        let subscription = subscription.ok_or_else(PayPalError::not_found)?;
        if subscription["status"] == "CANCELLED" || subscription["status"] == "EXPIRED" {
            let description = "Invalid subscription status for cancel action; subscription status should be active or suspended.";
            return Err(PayPalError::unprocessable("SUBSCRIPTION_STATUS_INVALID", description));
        }
        subscription["status"] = "CANCELLED".into();
        subscription["status_update_time"] = now().into();
        subscription["status_change_note"] = call.body["reason"].clone();
        Ok(subscription.clone())
    });
    match cancelled {
        Ok(subscription) => {
            let summary = "Subscription cancelled".to_owned();
            events::emit(
                state,
                "BILLING.SUBSCRIPTION.CANCELLED",
                "subscription",
                summary,
                subscription,
            );
            Executed::ran(Reply {
                status: 204,
                body: None,
            })
        }
        Err(err) => Executed::ran(err.reply()),
    }
}
