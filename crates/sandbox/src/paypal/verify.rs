//! `POST /v1/notifications/verify-webhook-signature`: `SUCCESS` only for a webhook this
//! sandbox signed, over the event's bytes exactly as sent in `webhook_event`, for the
//! configured webhook id and certificate; `FAILURE` for anything else, as PayPal answers.

use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

use super::Call;
use super::error::PayPalError;
use super::signing::{AUTH_ALGO, Transmission};
use crate::idempotency::Reply;
use crate::pipeline::Executed;
use crate::state::AppState;

/// The request, with the event kept as raw bytes: its CRC32 is over what PayPal sent.
#[derive(Deserialize)]
struct Request<'a> {
    auth_algo: Option<String>,
    cert_url: Option<String>,
    transmission_id: Option<String>,
    transmission_sig: Option<String>,
    transmission_time: Option<String>,
    webhook_id: Option<String>,
    #[serde(borrow)]
    webhook_event: Option<&'a RawValue>,
}

/// Checks the signature; answers `{"verification_status": "SUCCESS" | "FAILURE"}`.
pub(super) fn verify(state: &AppState, call: &Call) -> Executed {
    let request: Request<'_> = match serde_json::from_slice(&call.raw) {
        Ok(request) => request,
        Err(_) => {
            let description = "The request JSON is not well formed.";
            let malformed = PayPalError::invalid("/", None, "MALFORMED_REQUEST_JSON", description);
            return Executed::Refused(malformed.reply());
        }
    };
    let fields = [
        ("/auth_algo", request.auth_algo.as_deref()),
        ("/cert_url", request.cert_url.as_deref()),
        ("/transmission_id", request.transmission_id.as_deref()),
        ("/transmission_sig", request.transmission_sig.as_deref()),
        ("/transmission_time", request.transmission_time.as_deref()),
        ("/webhook_id", request.webhook_id.as_deref()),
        ("/webhook_event", request.webhook_event.map(RawValue::get)),
    ];
    if let Some((field, _)) = fields.iter().find(|(_, value)| value.is_none()) {
        return Executed::Refused(PayPalError::missing(field).reply());
    }
    let [algo, cert, id, sig, time, webhook_id, event] = fields.map(|(_, v)| v.unwrap_or_default());
    let paypal = &state.paypal;
    let transmission = Transmission {
        id,
        time,
        webhook_id,
        body: event.as_bytes(),
    };
    let genuine = algo == AUTH_ALGO
        && cert == paypal.cert_url
        && webhook_id == paypal.config.webhook_id
        && paypal.signer.verify(&transmission, sig);
    let status = if genuine { "SUCCESS" } else { "FAILURE" };
    Executed::ran(Reply::json(200, json!({ "verification_status": status })))
}
