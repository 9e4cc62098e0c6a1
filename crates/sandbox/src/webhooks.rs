//! Delivering what the sandbox sends on its own initiative (Twilio status callbacks, Stripe and
//! PayPal webhooks): one POST, retried a few times while the receiver fails, then recorded.

use std::time::Duration;

use crate::record::RecordedCallback;
use crate::state::AppState;

/// Retries after a failed first attempt, so a receiver that is briefly down still gets it.
const MAX_RETRIES: u32 = 3;

/// Pause between attempts: short, because the receiver is local and tests are waiting.
const RETRY_DELAY: Duration = Duration::from_millis(100);

/// How a delivery ended, after retries.
#[derive(Debug)]
pub(crate) struct Delivered {
    /// Status of the last attempt; `None` when it never got an answer.
    pub(crate) http_status: Option<u16>,
    /// Why it failed in the end; `None` when it was answered 2xx.
    pub(crate) error: Option<String>,
    /// Attempts made, retries included.
    pub(crate) attempts: u32,
}

/// POSTs what `request` builds until it is answered 2xx, retrying up to [`MAX_RETRIES`]
/// times; stops early at shutdown.
/// `what` names the delivery in its error ("callback", "webhook").
pub(crate) async fn post_with_retries(
    state: &AppState,
    what: &str,
    url: &str,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> Delivered {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (http_status, error) = attempt(what, request()).await;
        if error.is_some() && attempts <= MAX_RETRIES {
            tracing::debug!(url, attempts, error, "{what} failed, retrying");
            if state.pause(RETRY_DELAY).await {
                continue;
            }
        }
        return Delivered {
            http_status,
            error,
            attempts,
        };
    }
}

/// A signed provider webhook, ready to send.
#[derive(Clone, Debug)]
pub(crate) struct Webhook {
    pub(crate) url: String,
    /// The event's id (`evt_…`, `WH-…`), recorded as the callback's `message_sid`.
    pub(crate) event_id: String,
    /// The event's type, recorded as the callback's `status`.
    pub(crate) event_type: String,
    /// Signature headers.
    pub(crate) headers: Vec<(&'static str, String)>,
    /// The exact bytes signed, sent as is.
    pub(crate) body: Vec<u8>,
}

/// Sends `webhook` in the background and records the outcome like a status callback.
pub(crate) fn send(state: &AppState, webhook: Webhook) {
    let state = state.clone();
    let generation = state.record.generation();
    tokio::spawn(async move {
        let request = || {
            let builder = state
                .http
                .post(&webhook.url)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(webhook.body.clone());
            let headers = webhook.headers.iter();
            headers.fold(builder, |b, (name, value)| b.header(*name, value))
        };
        let delivered = post_with_retries(&state, "webhook", &webhook.url, request).await;
        let outcome = RecordedCallback {
            url: webhook.url,
            message_sid: webhook.event_id,
            status: webhook.event_type,
            http_status: delivered.http_status,
            error: delivered.error,
            attempts: delivered.attempts,
        };
        state.record.callback(generation, outcome);
    });
}

/// One POST: the status answered (if any) and why it failed (if it did).
async fn attempt(what: &str, request: reqwest::RequestBuilder) -> (Option<u16>, Option<String>) {
    match request.send().await {
        Ok(response) if response.status().is_success() => (Some(response.status().as_u16()), None),
        Ok(response) => {
            let status = response.status();
            (
                Some(status.as_u16()),
                Some(format!("{what} answered {status}")),
            )
        }
        Err(err) => (None, Some(format!("{what} not delivered: {}", chain(&err)))),
    }
}

/// The error and its causes: reqwest's own message omits the cause (e.g. connection refused).
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
