//! The record of what the sandbox received and what it called back, for tests and demos to
//! assert on.

use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A provider request the sandbox received.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Order of receipt, from 1. Never reused, not even after a clear, so a number always
    /// names the same request.
    pub seq: u64,
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Request path, e.g. `/2010-04-01/Accounts/AC…/Messages.json`.
    pub path: String,
    /// Form fields in the order sent (empty for a GET).
    pub form: Vec<(String, String)>,
    /// Status the sandbox answered, or 0 while it has not answered yet (during injected
    /// latency). Requests are recorded on receipt, so one whose client gave up is still here.
    pub status: u16,
    /// When the request arrived.
    pub received_at: DateTime<Utc>,
    /// The SID of the message this request created, if it created one (for FCM and APNs:
    /// the message name / `apns-id` of an accepted push).
    pub message_sid: Option<String>,
    /// The body, when it was JSON (FCM, APNs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    /// The `apns-*` headers, in the order sent (credentials are never recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The first value of form field `name` (Twilio names are case-sensitive: `To`, `Body`).
    pub fn form_value(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first value of recorded header `name` (lower case, e.g. `apns-topic`).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A status callback the sandbox sent, with its final outcome after retries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordedCallback {
    /// The `StatusCallback` URL called.
    pub url: String,
    /// The message the callback is about.
    pub message_sid: String,
    /// The `MessageStatus` sent: `sent`, `delivered`, `undelivered` or `failed`.
    pub status: String,
    /// HTTP status of the last attempt; `None` when it never got an answer.
    pub http_status: Option<u16>,
    /// Why the callback failed in the end; `None` when it was answered 2xx.
    pub error: Option<String>,
    /// Attempts made, retries included (1 when the first one succeeded).
    pub attempts: u32,
}

/// Thread-safe store of requests and callbacks.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    requests: Vec<RecordedRequest>,
    callbacks: Vec<RecordedCallback>,
    last_seq: u64,
    /// Bumped by `clear`, so callbacks of messages sent before it do not reappear after it.
    generation: u64,
}

impl Recorder {
    /// Records a request on receipt (status 0) and returns its sequence number.
    #[cfg(test)]
    pub(crate) fn receive(&self, method: &str, path: &str, form: Vec<(String, String)>) -> u64 {
        self.receive_with(method, path, form, None, Vec::new())
    }

    /// Records a request with its JSON body and provider headers on receipt.
    pub(crate) fn receive_with(
        &self,
        method: &str,
        path: &str,
        form: Vec<(String, String)>,
        json: Option<serde_json::Value>,
        headers: Vec<(String, String)>,
    ) -> u64 {
        let mut inner = self.lock();
        inner.last_seq += 1;
        let seq = inner.last_seq;
        inner.requests.push(RecordedRequest {
            seq,
            method: method.to_owned(),
            path: path.to_owned(),
            form,
            status: 0,
            received_at: Utc::now(),
            message_sid: None,
            json,
            headers,
        });
        seq
    }

    /// Notes how request `seq` was answered; a no-op if it was cleared meanwhile.
    pub(crate) fn answer(&self, seq: u64, status: u16, message_sid: Option<String>) {
        let mut inner = self.lock();
        if let Some(request) = inner.requests.iter_mut().find(|r| r.seq == seq) {
            request.status = status;
            request.message_sid = message_sid;
        }
    }

    /// The current generation, to hand to [`Recorder::callback`] later.
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Records a callback outcome unless the record was cleared since `generation`.
    pub(crate) fn callback(&self, generation: u64, callback: RecordedCallback) {
        let mut inner = self.lock();
        if inner.generation == generation {
            inner.callbacks.push(callback);
        }
    }

    /// All requests, in order of receipt.
    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// All callback outcomes, in the order they were settled.
    pub(crate) fn callbacks(&self) -> Vec<RecordedCallback> {
        self.lock().callbacks.clone()
    }

    /// Forgets requests and callbacks (sequence numbers keep counting).
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.requests.clear();
        inner.callbacks.clear();
        inner.generation += 1;
    }

    /// The record stays usable after a panic elsewhere: every update is a single push or
    /// field write, so a poisoned lock never guards half-written data.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> Vec<(String, String)> {
        vec![
            ("To".into(), "+15551234567".into()),
            ("To".into(), "+1999".into()),
        ]
    }

    #[test]
    fn records_on_receipt_then_notes_the_answer() {
        let recorder = Recorder::default();
        let seq = recorder.receive("POST", "/x", form());
        assert_eq!(recorder.requests()[0].status, 0);
        recorder.answer(seq, 201, Some("SM1".into()));
        let request = &recorder.requests()[0];
        assert_eq!((request.seq, request.status), (1, 201));
        assert_eq!(request.message_sid.as_deref(), Some("SM1"));
        assert_eq!(request.form_value("To"), Some("+15551234567"));
        assert_eq!(request.form_value("Body"), None);
    }

    #[test]
    fn clear_forgets_and_drops_late_callbacks_of_before() {
        let recorder = Recorder::default();
        recorder.receive("GET", "/a", Vec::new());
        let before = recorder.generation();
        recorder.clear();
        let callback = RecordedCallback {
            url: "http://x".into(),
            message_sid: "SM1".into(),
            status: "sent".into(),
            http_status: Some(200),
            error: None,
            attempts: 1,
        };
        recorder.callback(before, callback.clone());
        assert!(recorder.callbacks().is_empty() && recorder.requests().is_empty());
        recorder.callback(recorder.generation(), callback);
        assert_eq!(recorder.callbacks().len(), 1);
        assert_eq!(recorder.receive("GET", "/b", Vec::new()), 2);
    }
}
