//! Helpers shared by the sandbox's integration tests: a sandbox on a free port, a Twilio-style
//! client, and a status callback receiver that records what reached it.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod webhooks;

use std::time::Duration;

use serde_json::Value;
use switchyard_sandbox::{SandboxConfig, SandboxHandle};

/// A number that passes validation and is not one of Twilio's magic test numbers.
pub const TO: &str = "+15551230001";
/// A sender number.
pub const FROM: &str = "+15557770000";

/// A sandbox on 127.0.0.1:0 with fast callbacks.
pub async fn sandbox() -> SandboxHandle {
    let mut config = SandboxConfig::ephemeral();
    config.twilio.callback_delay = Duration::from_millis(10);
    switchyard_sandbox::start(config)
        .await
        .expect("sandbox starts on a free port")
}

/// `…/Messages.json` of the sandbox's account.
pub fn messages_url(sandbox: &SandboxHandle) -> String {
    let sid = &sandbox.twilio().account_sid;
    format!(
        "{}/2010-04-01/Accounts/{sid}/Messages.json",
        sandbox.base_url()
    )
}

/// `…/Accounts/{sid}.json`.
pub fn account_url(sandbox: &SandboxHandle) -> String {
    let sid = &sandbox.twilio().account_sid;
    format!("{}/2010-04-01/Accounts/{sid}.json", sandbox.base_url())
}

thread_local! {
    /// One client per test: building one loads the TLS roots (~25 ms). Per thread, because
    /// each `#[tokio::test]` runs its own runtime on its own thread and pooled connections
    /// must not outlive the runtime that opened them.
    static CLIENT: reqwest::Client = reqwest::Client::new();
}

/// The test's HTTP client.
pub fn client() -> reqwest::Client {
    CLIENT.with(reqwest::Client::clone)
}

/// Sends `form` to Messages.json with the sandbox's own credentials.
pub async fn send(sandbox: &SandboxHandle, form: &[(&str, &str)]) -> reqwest::Response {
    let twilio = sandbox.twilio();
    client()
        .post(messages_url(sandbox))
        .basic_auth(&twilio.account_sid, Some(&twilio.auth_token))
        .form(form)
        .send()
        .await
        .expect("sandbox answers")
}

/// A valid send, with an optional `StatusCallback`.
pub async fn send_valid(sandbox: &SandboxHandle, callback: Option<&str>) -> reqwest::Response {
    let mut form = vec![("To", TO), ("From", FROM), ("Body", "Hello from school")];
    form.extend(callback.map(|url| ("StatusCallback", url)));
    send(sandbox, &form).await
}

/// Status and JSON body of a response.
pub async fn status_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// Makes every provider answer take 800 ms and returns a client that gives up after 200 ms:
/// a request that times out at the client while the provider still completes it.
pub fn slow_provider(sandbox: &SandboxHandle) -> reqwest::Client {
    sandbox.set_faults(switchyard_sandbox::FaultConfig {
        latency_ms: 800,
        ..switchyard_sandbox::FaultConfig::default()
    });
    reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .expect("client")
}

/// Polls `check` every 10 ms until it holds, failing the test after 3 s.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..300 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// One callback as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub signature: Option<String>,
    pub form: Vec<(String, String)>,
}

impl Received {
    pub fn value(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A status callback receiver on 127.0.0.1:0 that answers 500 to its first `fail_first`
/// calls and 2xx after.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    hooks: webhooks::HookReceiver,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Self {
        let hooks = webhooks::HookReceiver::start_at(fail_first, "/status").await;
        Self {
            url: format!("{}?school=7", hooks.url),
            hooks,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        let hooks = self.hooks.hooks().into_iter();
        hooks
            .map(|hook| Received {
                signature: hook
                    .headers
                    .get("X-Twilio-Signature")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                form: serde_urlencoded::from_bytes(&hook.body).expect("a form"),
            })
            .collect()
    }
}
