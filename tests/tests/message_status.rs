//! "What happened to message X": `GET /v1/messages/{id}` and `switchyard messages show` return
//! the delivery, every status it went through (queued → sent → delivered from Twilio's signed
//! callbacks) and the attempts; a key sees only the types it may publish.

use std::time::Duration;

use serde_json::Value;
use switchyard_e2e::{Harness, eventually, new_id};
use switchyard_store::{DeliveryStatus, Role};

async fn get(h: &Harness, token: &str, id: &str) -> reqwest::Response {
    h.http
        .get(format!("{}/v1/messages/{id}", h.ingress()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_returns_the_status_history_of_a_delivered_sms() {
    let h = Harness::start().await;
    let worker = h.start_worker().await;
    let id = new_id();
    assert_eq!(
        h.send_sms(&id, "+15005550006", "History test")
            .await
            .status(),
        202
    );
    eventually(Duration::from_secs(10), "delivered", || async {
        h.status(&id).await == Some(DeliveryStatus::Delivered)
    })
    .await;

    let response = get(&h, &h.token, &id).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["type"], "sms.send");
    assert_eq!(body["tenant"], h.namespace.as_str());
    assert_eq!(body["deliveries"][0]["integration"], "sms");
    assert_eq!(body["deliveries"][0]["status"], "delivered");
    let sid = body["deliveries"][0]["provider_ref"].as_str().unwrap();
    assert!(sid.starts_with("SM"), "{body}");
    let history: Vec<&str> = body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["queued", "sent", "delivered"], "{body}");
    assert_eq!(body["attempts"][0]["outcome"], "succeeded");
    assert_eq!(body["attempts"][0]["attempt"], 1);

    // The CLI says the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard-e2e-node"))
        .args(["messages", "show", &id])
        .env("SWITCHYARD_DATABASE_URL", switchyard_e2e::database_url())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("message {id}")), "{text}");
    assert!(text.contains(sid), "{text}");
    for status in ["queued", "sent", "delivered", "succeeded"] {
        assert!(text.contains(status), "{status} missing from:\n{text}");
    }
    worker.stop().await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_ids_and_other_scopes_are_404_problems() {
    let h = Harness::start().await;
    let worker = h.start_worker().await;
    let id = new_id();
    assert_eq!(
        h.send_sms(&id, "+15005550006", "Scoped").await.status(),
        202
    );
    eventually(Duration::from_secs(10), "recorded", || async {
        h.status(&id).await.is_some()
    })
    .await;

    let unknown = get(&h, &h.token, &new_id()).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.headers()["content-type"],
        "application/problem+json"
    );
    let (_, email_only) = h
        .store
        .create_api_key(
            &format!("{}-email", h.namespace),
            Role::Publisher,
            &["email.".to_owned()],
        )
        .await
        .unwrap();
    let hidden = get(&h, &email_only, &id).await;
    assert_eq!(
        hidden.status(),
        404,
        "a key scoped to email does not see SMS"
    );
    assert_eq!(get(&h, "not-a-key", &id).await.status(), 401);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard-e2e-node"))
        .args(["messages", "show", "no-such-id"])
        .env("SWITCHYARD_DATABASE_URL", switchyard_e2e::database_url())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nothing is recorded for message no-such-id"),
        "{err}"
    );
    worker.stop().await;
    h.finish().await;
}
