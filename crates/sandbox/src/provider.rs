//! What every emulated provider endpoint shares: the request is recorded the moment it
//! arrives, then answered in a task of its own, so a client that hangs up mid-way does not
//! cancel work a real provider would have completed.

use std::future::Future;

use axum::body::Bytes;
use axum::response::Response;
use http::{HeaderMap, Method, StatusCode, Uri};

use crate::state::AppState;

/// A provider request as the answering task needs it.
#[derive(Clone, Debug)]
pub(crate) struct Incoming {
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) form: Vec<(String, String)>,
    /// The body, if it was sent as JSON (FCM, APNs); such a body is never read as a form.
    pub(crate) json: Option<serde_json::Value>,
}

impl Incoming {
    /// Reads the path and headers, and `body` as a form. A body that is not a form reads as
    /// no fields, as at Twilio, which then reports the fields it misses.
    pub(crate) fn new(uri: &Uri, headers: HeaderMap, body: &Bytes) -> Self {
        let is_json = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let (form, json) = if is_json {
            (Vec::new(), serde_json::from_slice(body).ok())
        } else {
            (serde_urlencoded::from_bytes(body).unwrap_or_default(), None)
        };
        Self {
            path: uri.path().to_owned(),
            headers,
            form,
            json,
        }
    }

    /// The `apns-*` headers, for the record.
    fn provider_headers(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter(|(name, _)| name.as_str().starts_with("apns-"))
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect()
    }
}

/// How a provider request was answered, and the message it created if any.
pub(crate) struct Answer {
    pub(crate) response: Response,
    pub(crate) message_sid: Option<String>,
}

/// Records `incoming`, answers it with `work` in its own task and notes the answer.
pub(crate) async fn recorded<F, Fut>(
    state: &AppState,
    method: &Method,
    incoming: Incoming,
    work: F,
) -> Response
where
    F: FnOnce(AppState, Incoming) -> Fut + Send + 'static,
    Fut: Future<Output = Answer> + Send + 'static,
{
    let (method, path) = (method.as_str().to_owned(), incoming.path.clone());
    let seq = state.record.receive_with(
        &method,
        &path,
        incoming.form.clone(),
        incoming.json.clone(),
        incoming.provider_headers(),
    );
    let task_state = state.clone();
    let task = tokio::spawn(async move {
        let answer = work(task_state.clone(), incoming).await;
        let status = answer.response.status().as_u16();
        tracing::debug!(seq, method, path, status, "provider request answered");
        task_state.record.answer(seq, status, answer.message_sid);
        answer.response
    });
    match task.await {
        Ok(response) => response,
        Err(err) => {
            // Only a panic in the handler gets here; answer as a provider bug would.
            tracing::error!(%err, "provider request task failed");
            state.record.answer(seq, 500, None);
            let mut response = Response::new("internal error".into());
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}
