//! `POST /v2/checkout/orders` (one purchase unit with an amount) and the payer approving it,
//! after which the order is captured at once (intent `CAPTURE`).

use serde_json::{Value, json};

use super::amount::{money, to_minor};
use super::error::PayPalError;
use super::{Call, created, events, link, new_id, now};
use crate::error::HookError;
use crate::pipeline::Executed;
use crate::state::AppState;

/// Creates an order awaiting the payer's approval.
pub(super) fn create(state: &AppState, call: &Call) -> Executed {
    if let Err(err) = validate(&call.body) {
        return Executed::Refused(err.reply());
    }
    let id = new_id(17);
    let approve = format!("/_sandbox/paypal/checkoutnow?token={id}");
    let mut links = vec![
        link(state, &format!("/v2/checkout/orders/{id}"), "self", "GET"),
        link(state, &approve, "approve", "GET"),
    ];
    if call.body.pointer("/payment_source/paypal").is_some() {
        links.push(link(state, &approve, "payer-action", "GET"));
    }
    links.push(link(
        state,
        &format!("/v2/checkout/orders/{id}"),
        "update",
        "PATCH",
    ));
    links.push(link(
        state,
        &format!("/v2/checkout/orders/{id}/capture"),
        "capture",
        "POST",
    ));
    let mut units = call.body["purchase_units"].clone();
    if units[0]["reference_id"].is_null() {
        units[0]["reference_id"] = "default".into();
    }
    let order = json!({
        "id": id,
        "intent": call.body["intent"],
        "status": "CREATED",
        "purchase_units": units,
        "create_time": now(),
        "links": links,
    });
    state
        .paypal
        .ledger
        .with(|objects| objects.put(order.clone()));
    created(order)
}

/// The checks PayPal makes, each naming its field as a JSON pointer.
fn validate(body: &Value) -> Result<(), PayPalError> {
    match body["intent"].as_str() {
        Some("CAPTURE" | "AUTHORIZE") => {}
        Some(other) => {
            let description = "The value of a field is invalid.";
            return Err(PayPalError::invalid(
                "/intent",
                Some(other),
                "INVALID_PARAMETER_VALUE",
                description,
            ));
        }
        None => return Err(PayPalError::missing("/intent")),
    }
    let units = body["purchase_units"].as_array().filter(|u| !u.is_empty());
    let unit = &units.ok_or_else(|| PayPalError::missing("/purchase_units"))?[0];
    let reference = unit["reference_id"].as_str().unwrap_or("default");
    let field = |name: &str| format!("/purchase_units/@reference_id=='{reference}'/amount{name}");
    if unit["amount"].is_null() {
        return Err(PayPalError::missing(&field("")));
    }
    let currency = unit["amount"]["currency_code"]
        .as_str()
        .ok_or_else(|| PayPalError::missing(&field("/currency_code")))?;
    let value = unit["amount"]["value"]
        .as_str()
        .ok_or_else(|| PayPalError::missing(&field("/value")))?;
    let valid_currency = currency.len() == 3 && currency.chars().all(|c| c.is_ascii_uppercase());
    if !valid_currency {
        let description = "The value of a field does not conform to the expected format.";
        return Err(PayPalError::invalid(
            &field("/currency_code"),
            Some(currency),
            "INVALID_PARAMETER_SYNTAX",
            description,
        ));
    }
    match to_minor(value, currency) {
        Some(minor) if minor > 0 => Ok(()),
        Some(_) => {
            let description = "Must be greater than zero. If the currency supports decimals, only two decimal place precision is supported.";
            Err(PayPalError::unprocessable(
                "CANNOT_BE_ZERO_OR_NEGATIVE",
                description,
            ))
        }
        None => {
            let description = "The value of a field does not conform to the expected format.";
            Err(PayPalError::invalid(
                &field("/value"),
                Some(value),
                "INVALID_PARAMETER_SYNTAX",
                description,
            ))
        }
    }
}

/// The payer approves order `id` and it is captured: a `COMPLETED` capture for the purchase
/// unit's amount, and `PAYMENT.CAPTURE.COMPLETED`. Returns the capture's id.
pub(crate) fn capture(state: &AppState, id: &str) -> Result<String, HookError> {
    let capture_id = new_id(17);
    let capture = state.paypal.ledger.with(|objects| {
        let order = objects.get_mut(id).filter(|o| o["intent"].is_string());
        let Some(order) = order else {
            return Err(HookError::Unknown { kind: "order", id: id.to_owned() });
        };
        if order["status"] != "CREATED" && order["status"] != "APPROVED" {
            let status = order["status"].as_str().unwrap_or_default().to_owned();
            return Err(HookError::WrongState { kind: "order", id: id.to_owned(), status, action: "captured" });
        }
        let unit = &order["purchase_units"][0];
        let links = [
            link(state, &format!("/v2/payments/captures/{capture_id}"), "self", "GET"),
            link(state, &format!("/v2/payments/captures/{capture_id}/refund"), "refund", "POST"),
            link(state, &format!("/v2/checkout/orders/{id}"), "up", "GET"),
        ];
        let capture = json!({
            "id": capture_id,
            "status": "COMPLETED",
            "amount": unit["amount"],
            "final_capture": true,
            "custom_id": unit["custom_id"],
            "invoice_id": unit["invoice_id"],
            "seller_protection": { "status": "ELIGIBLE" },
            "seller_receivable_breakdown": {
                "gross_amount": unit["amount"],
                "paypal_fee": money(0, unit["amount"]["currency_code"].as_str().unwrap_or_default()),
                "net_amount": unit["amount"],
            },
            "supplementary_data": { "related_ids": { "order_id": id } },
            "links": links,
            "create_time": now(),
            "update_time": now(),
        });
        order["status"] = "COMPLETED".into();
        order["purchase_units"][0]["payments"] = json!({ "captures": [capture] });
        objects.put(capture.clone());
        Ok(capture)
    })?;
    let amount = &capture["amount"];
    let summary = format!(
        "Payment completed for {} {}",
        amount["value"].as_str().unwrap_or_default(),
        amount["currency_code"].as_str().unwrap_or_default()
    );
    events::emit(
        state,
        "PAYMENT.CAPTURE.COMPLETED",
        "capture",
        summary,
        capture,
    );
    Ok(capture_id)
}
