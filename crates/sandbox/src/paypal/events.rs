//! PayPal webhook events: `{"id": "WH-…", "event_type", "resource_type", "resource", …}`,
//! POSTed to the configured URL with the `PAYPAL-*` transmission headers and signed as PayPal
//! signs (see `signing.rs`), so the ingress verifies them with its production code.

use chrono::SecondsFormat;
use serde_json::{Value, json};

use super::signing::{AUTH_ALGO, Transmission};
use crate::state::AppState;
use crate::webhooks::{self, Webhook};

/// Records the event and, if a webhook URL is configured, sends it signed.
pub(crate) fn emit(
    state: &AppState,
    event_type: &str,
    resource_type: &str,
    summary: String,
    resource: Value,
) {
    let id = format!("WH-{}", super::new_id(17));
    let now = chrono::Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let event = json!({
        "id": id,
        "event_version": "1.0",
        "create_time": now,
        "resource_type": resource_type,
        "resource_version": "2.0",
        "event_type": event_type,
        "summary": summary,
        "resource": resource,
        "links": [super::link(state, &format!("/v1/notifications/webhooks-events/{id}"), "self", "GET")],
    });
    state
        .paypal
        .ledger
        .with(|objects| objects.push_event(event.clone()));
    let Some(url) = state.paypal.config.webhook_url.clone() else {
        return;
    };
    let body = event.to_string().into_bytes();
    let transmission_id = uuid::Uuid::new_v4().to_string();
    let transmission = Transmission {
        id: &transmission_id,
        time: &now,
        webhook_id: &state.paypal.config.webhook_id,
        body: &body,
    };
    let signature = state.paypal.signer.sign(&transmission);
    let headers = vec![
        ("PAYPAL-TRANSMISSION-ID", transmission_id.clone()),
        ("PAYPAL-TRANSMISSION-TIME", now.clone()),
        ("PAYPAL-AUTH-ALGO", AUTH_ALGO.to_owned()),
        ("PAYPAL-CERT-URL", state.paypal.cert_url.clone()),
        ("PAYPAL-TRANSMISSION-SIG", signature),
    ];
    let webhook = Webhook {
        url,
        event_id: id,
        event_type: event_type.to_owned(),
        headers,
        body,
    };
    webhooks::send(state, webhook);
}
