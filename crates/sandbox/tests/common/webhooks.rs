//! A webhook receiver for Stripe and PayPal events: keeps each request's headers and exact
//! body bytes, so tests can check signatures over what was really sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

/// One webhook as it arrived.
#[derive(Clone, Debug)]
pub struct Hook {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Hook {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("webhook without {name}"))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }
}

/// A receiver on 127.0.0.1:0 that answers 500 to its first `fail_first` calls, 204 after.
#[derive(Clone)]
pub struct HookReceiver {
    pub url: String,
    hooks: Arc<Mutex<Vec<Hook>>>,
}

#[derive(Clone)]
struct ReceiverState {
    hooks: Arc<Mutex<Vec<Hook>>>,
    fail_first: Arc<AtomicUsize>,
}

impl HookReceiver {
    /// A receiver at `/hook`.
    pub async fn start(fail_first: usize) -> Self {
        Self::start_at(fail_first, "/hook").await
    }

    /// A receiver at `path`.
    pub async fn start_at(fail_first: usize, path: &str) -> Self {
        let hooks = Arc::new(Mutex::new(Vec::new()));
        let state = ReceiverState {
            hooks: hooks.clone(),
            fail_first: Arc::new(AtomicUsize::new(fail_first)),
        };
        let app = Router::new().route(path, post(receive)).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}{path}"),
            hooks,
        }
    }

    /// Every delivery, failed ones included, in order of arrival.
    pub fn hooks(&self) -> Vec<Hook> {
        self.hooks.lock().expect("receiver lock").clone()
    }

    /// The first delivery whose JSON `field` is `value`, waiting up to 3 s for it.
    pub async fn wait_for(&self, field: &str, value: &str) -> Hook {
        for _ in 0..300 {
            let found = self.hooks().into_iter().find(|h| h.json()[field] == value);
            if let Some(hook) = found {
                return hook;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("no webhook with {field} = {value}");
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    state
        .hooks
        .lock()
        .expect("receiver lock")
        .push(Hook { headers, body });
    let failing = state
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    if failing.is_ok() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}
