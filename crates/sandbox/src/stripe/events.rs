//! Stripe events: `{"id": "evt_…", "object": "event", "type", "created", "data": {"object"}}`,
//! POSTed to the configured webhook URL with `Stripe-Signature: t=<unix>,v1=<hex>`, the
//! HMAC-SHA256 of `{t}.{raw body}` under the endpoint's signing secret, exactly as Stripe
//! signs, so the ingress verifies sandbox events with its production code.

use ring::hmac;
use serde_json::{Value, json};

use crate::state::AppState;
use crate::webhooks::{self, Webhook};

/// Records the event and, if a webhook URL is configured, sends it signed.
pub(crate) fn emit(state: &AppState, event_type: &str, object: Value) {
    let created = super::now();
    let event = json!({
        "id": super::new_id("evt_"),
        "object": "event",
        "api_version": "2025-03-31.basil",
        "type": event_type,
        "created": created,
        "data": { "object": object },
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
    });
    let event_id = event["id"].as_str().unwrap_or_default().to_owned();
    state
        .stripe
        .ledger
        .with(|objects| objects.push_event(event.clone()));
    let Some(url) = state.stripe.config.webhook_url.clone() else {
        return;
    };
    let body = event.to_string().into_bytes();
    let signature = sign(&state.stripe.config.webhook_secret, created, &body);
    webhooks::send(
        state,
        Webhook {
            url,
            event_id,
            event_type: event_type.to_owned(),
            headers: vec![("Stripe-Signature", signature)],
            body,
        },
    );
}

/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>`.
fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(format!("{timestamp}.").as_bytes());
    context.update(body);
    let tag = context.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_stripe_s_documented_scheme() {
        // HMAC-SHA256("whsec_test", "1700000000.{}"), computed independently with openssl:
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test
        let header = sign("whsec_test", 1_700_000_000, b"{}");
        let expected = "35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91";
        assert_eq!(header, format!("t=1700000000,v1={expected}"));
    }
}
