//! Twilio status callbacks: after a message is accepted, POST `sent` and then its final
//! status to its `StatusCallback`, signed with `X-Twilio-Signature` exactly as Twilio signs.

use switchyard_contract::signature::twilio;

use crate::faults::FinalStatus;
use crate::record::RecordedCallback;
use crate::state::AppState;
use crate::twilio::message::{API_VERSION, Message};
use crate::webhooks;

/// What one message's callbacks need, captured when it was accepted.
#[derive(Clone, Debug)]
struct Plan {
    url: String,
    message: Message,
    final_status: FinalStatus,
    /// Record generation at acceptance; see [`crate::record::Recorder::callback`].
    generation: u64,
}

/// Starts the callbacks for `message` in the background, if it asked for them.
pub(crate) fn schedule(state: &AppState, message: &Message) {
    let Some(url) = message.request.status_callback.clone() else {
        return;
    };
    let plan = Plan {
        url,
        message: message.clone(),
        final_status: state.final_status(),
        generation: state.record.generation(),
    };
    tokio::spawn(run(state.clone(), plan));
}

/// `sent`, then the final status, each after the configured delay; stops at shutdown.
async fn run(state: AppState, plan: Plan) {
    let final_status = plan.final_status;
    let steps = [
        ("sent", None),
        (final_status.as_str(), final_status.error_code()),
    ];
    for (status, error_code) in steps {
        if !state.pause(state.twilio.callback_delay).await {
            return;
        }
        let outcome = deliver(&state, &plan, status, error_code).await;
        state.record.callback(plan.generation, outcome);
    }
}

/// The form Twilio posts for `status`.
fn params(plan: &Plan, status: &str, error_code: Option<&str>) -> Vec<(String, String)> {
    let message = &plan.message;
    let request = &message.request;
    let mut params = vec![
        ("MessageSid", message.sid.as_str()),
        ("SmsSid", message.sid.as_str()),
        ("MessageStatus", status),
        ("SmsStatus", status),
        ("AccountSid", message.account_sid.as_str()),
        ("To", request.to.as_str()),
        ("ApiVersion", API_VERSION),
    ];
    let optional = [
        ("From", request.from.as_deref()),
        (
            "MessagingServiceSid",
            request.messaging_service_sid.as_deref(),
        ),
        ("ErrorCode", error_code),
    ];
    params.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    params
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Sends one callback with retries and returns its final outcome.
async fn deliver(
    state: &AppState,
    plan: &Plan,
    status: &str,
    error_code: Option<&str>,
) -> RecordedCallback {
    let params = params(plan, status, error_code);
    let signature = twilio::sign(&state.twilio.auth_token, &plan.url, &params);
    let request = || {
        let post = state.http.post(&plan.url);
        post.header("X-Twilio-Signature", &signature).form(&params)
    };
    let delivered = webhooks::post_with_retries(state, "callback", &plan.url, request).await;
    RecordedCallback {
        url: plan.url.clone(),
        message_sid: plan.message.sid.clone(),
        status: status.to_owned(),
        http_status: delivered.http_status,
        error: delivered.error,
        attempts: delivered.attempts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twilio::message::tests::request;

    fn plan(final_status: FinalStatus) -> Plan {
        let mut request = request();
        request.status_callback = Some("http://127.0.0.1:9/status".into());
        Plan {
            url: "http://127.0.0.1:9/status".into(),
            message: Message::accept("ACx", request),
            final_status,
            generation: 0,
        }
    }

    fn value<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn params_name_the_messaging_service_when_there_is_no_from() {
        let plan = plan(FinalStatus::Delivered);
        let params = params(&plan, "sent", None);
        assert_eq!(value(&params, "MessagingServiceSid"), Some("MG0123"));
        assert_eq!(value(&params, "From"), None);
        assert_eq!(value(&params, "SmsStatus"), Some("sent"));
        assert_eq!(value(&params, "ErrorCode"), None);
    }

    #[test]
    fn failed_carries_its_error_code() {
        let plan = plan(FinalStatus::Failed);
        let status = plan.final_status;
        let params = params(&plan, status.as_str(), status.error_code());
        assert_eq!(value(&params, "MessageStatus"), Some("failed"));
        assert_eq!(value(&params, "ErrorCode"), Some("30008"));
    }
}
