//! `POST /v1/checkout/sessions` (mode `payment`) and the customer paying it, which is where
//! payment intents and charges come from.
//!
//! Metadata goes where Stripe puts it: the session's `metadata` stays on the session; the
//! PaymentIntent gets `payment_intent_data[metadata]`, and its charge a copy of the
//! PaymentIntent's metadata (Stripe copies it when the PaymentIntent is confirmed), so
//! `payment_intent.succeeded` and `charge.refunded` carry what the checkout set there.

use serde_json::{Value, json};

use super::error::StripeError;
use super::params::Params;
use super::{Call, created, events, new_id, now};
use crate::error::HookError;
use crate::ledger::Objects;
use crate::pipeline::Executed;
use crate::state::AppState;

/// One line item's price, from `line_items[i][price_data][…]` and `line_items[i][quantity]`.
struct Line {
    currency: String,
    amount: i64,
}

/// Creates an open, unpaid session for the line items' total.
pub(super) fn create(state: &AppState, call: &Call) -> Executed {
    match validate(&call.params) {
        Ok(lines) => created(session(state, &call.params, &lines)),
        Err(err) => Executed::Refused(err.reply()),
    }
}

fn validate(params: &Params) -> Result<Vec<Line>, StripeError> {
    match params.required("mode")? {
        "payment" => {}
        "subscription" | "setup" => {
            let message = "The sandbox emulates Checkout in mode=payment only.";
            return Err(StripeError::invalid(400, message).param("mode"));
        }
        other => {
            let message = format!(
                "Invalid mode: must be one of payment, setup, or subscription (got {other})"
            );
            return Err(StripeError::invalid(400, message).param("mode"));
        }
    }
    if !params.has_list("line_items") {
        return Err(StripeError::missing("line_items"));
    }
    let mut lines: Vec<Line> = Vec::new();
    for i in 0.. {
        if !params.has_list(&format!("line_items[{i}]")) {
            break;
        }
        lines.push(line(params, i)?);
    }
    if let Some(first) = lines.first()
        && let Some(i) = lines.iter().position(|l| l.currency != first.currency)
    {
        let message = "All line items must be in the same currency.";
        return Err(StripeError::invalid(400, message)
            .param(format!("line_items[{i}][price_data][currency]")));
    }
    params.required("success_url")?;
    Ok(lines)
}

/// Line `i`, every field named in full when missing (`line_items[0][quantity]`).
fn line(params: &Params, i: usize) -> Result<Line, StripeError> {
    let field = |name: &str| format!("line_items[{i}]{name}");
    if params.get(&field("[price]")).is_some() {
        let message = "The sandbox knows no Prices; send price_data instead.";
        return Err(StripeError::invalid(400, message).param(field("[price]")));
    }
    let currency = params
        .required(&field("[price_data][currency]"))?
        .to_lowercase();
    let unit = params.required_positive(&field("[price_data][unit_amount]"))?;
    params.required(&field("[price_data][product_data][name]"))?;
    let quantity = params.required_positive(&field("[quantity]"))?;
    Ok(Line {
        currency,
        amount: unit * quantity,
    })
}

fn session(state: &AppState, params: &Params, lines: &[Line]) -> Value {
    let id = new_id("cs_test_");
    let total: i64 = lines.iter().map(|l| l.amount).sum();
    let currency = lines.first().map(|l| l.currency.clone());
    let session = json!({
        "id": id,
        "object": "checkout.session",
        "url": format!("{}/_sandbox/stripe/checkout/sessions/{id}", state.base_url),
        "amount_subtotal": total,
        "amount_total": total,
        "currency": currency,
        "status": "open",
        "payment_status": "unpaid",
        "payment_intent": null,
        "client_reference_id": params.get("client_reference_id"),
        "customer_email": params.get("customer_email"),
        "metadata": params.metadata(),
        "mode": "payment",
        "success_url": params.get("success_url"),
        "cancel_url": params.get("cancel_url"),
        "created": now(),
        "livemode": false,
    });
    let intent_data = json!({ "metadata": params.metadata_at("payment_intent_data[metadata]") });
    state.stripe.ledger.with(|objects| {
        objects.put(session.clone());
        objects.put_hidden(&id, intent_data);
    });
    session
}

/// The customer pays session `id`: it completes, a succeeded payment intent (with its charge)
/// is made for `amount_total`, and `checkout.session.completed` and
/// `payment_intent.succeeded` are sent. Returns the payment intent's id.
pub(crate) fn pay(state: &AppState, id: &str) -> Result<String, HookError> {
    let (session, intent) = state.stripe.ledger.with(|objects| {
        let mut session = open_session(objects, id)?;
        let intent_data = objects.hidden(id).cloned().unwrap_or_default();
        let (intent, charge) = payment(&session, &intent_data);
        session["status"] = "complete".into();
        session["payment_status"] = "paid".into();
        session["payment_intent"] = intent["id"].clone();
        objects.put(session.clone());
        objects.put(intent.clone());
        objects.put(charge);
        Ok((session, intent))
    })?;
    let intent_id = intent["id"].as_str().unwrap_or_default().to_owned();
    events::emit(state, "checkout.session.completed", session);
    events::emit(state, "payment_intent.succeeded", intent);
    Ok(intent_id)
}

/// Session `id`, if it exists and is still open to be paid.
fn open_session(objects: &Objects, id: &str) -> Result<Value, HookError> {
    let session = objects
        .get(id)
        .filter(|s| s["object"] == "checkout.session");
    let Some(session) = session else {
        return Err(HookError::Unknown {
            kind: "checkout session",
            id: id.to_owned(),
        });
    };
    if session["status"] != "open" {
        return Err(HookError::WrongState {
            kind: "checkout session",
            id: id.to_owned(),
            status: session["status"].as_str().unwrap_or_default().to_owned(),
            action: "paid",
        });
    }
    Ok(session.clone())
}

/// The succeeded payment intent and its charge for a paid session made with `intent_data`
/// (its `payment_intent_data`).
fn payment(session: &Value, intent_data: &Value) -> (Value, Value) {
    let (intent_id, charge_id) = (new_id("pi_"), new_id("ch_"));
    let (amount, currency) = (&session["amount_total"], &session["currency"]);
    let metadata = match &intent_data["metadata"] {
        Value::Null => json!({}),
        given => given.clone(),
    };
    let intent = json!({
        "id": intent_id, "object": "payment_intent", "amount": amount,
        "amount_received": amount, "currency": currency, "status": "succeeded",
        "latest_charge": charge_id, "metadata": metadata, "created": now(),
        "payment_method_types": ["card"], "livemode": false,
    });
    let charge = json!({
        "id": charge_id, "object": "charge", "amount": amount, "amount_captured": amount,
        "amount_refunded": 0, "refunded": false, "captured": true, "paid": true,
        "currency": currency, "payment_intent": intent_id, "status": "succeeded",
        "metadata": metadata, "created": now(), "livemode": false,
    });
    (intent, charge)
}
