//! The admin HTTP API over the dead-letter workbench: admin keys only (refusals audited),
//! filters validated with field names, payload reveal audited, purge needs confirmation.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_cli::components::Component;
use switchyard_e2e::{Harness, amqp_url, database_url, eventually, new_id};
use switchyard_store::Role;

async fn get(h: &Harness, token: &str, path: &str) -> (u16, Value) {
    let r = h
        .http
        .get(format!("{}{path}", h.ingress()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post(h: &Harness, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = h
        .http
        .post(format!("{}{path}", h.ingress()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_api_lists_reveals_replays_and_purges_for_admins_only() {
    let h = Harness::start_components(
        &amqp_url(),
        &database_url(),
        "",
        BTreeSet::from([Component::Ingress, Component::DeadLetters]),
    )
    .await;
    let worker = h.start_worker().await;
    let id = new_id();
    assert_eq!(
        h.send_sms(&id, "+15005550001", "admin api").await.status(),
        202
    );
    let tenant = format!("tenant={}", h.namespace);
    let (_, admin) = h
        .store
        .create_api_key(
            &format!("{}-admin", h.namespace),
            Role::Admin,
            &["*".to_owned()],
        )
        .await
        .unwrap();

    // A publisher key is refused, and the refusal is audited.
    let (status, problem) = get(&h, &h.token, &format!("/v1/admin/dead-letters?{tenant}")).await;
    assert_eq!(status, 403, "{problem}");
    let audit = h.store.audit_list(100).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "dlq.forbidden" && e.actor.contains(&h.namespace))
    );

    eventually(Duration::from_secs(15), "ingested", || async {
        get(&h, &admin, &format!("/v1/admin/dead-letters?{tenant}"))
            .await
            .1["total"]
            == 1
    })
    .await;
    let (_, list) = get(&h, &admin, &format!("/v1/admin/dead-letters?{tenant}")).await;
    let item = &list["items"][0];
    assert_eq!(item["message_id"], id.as_str());
    assert_eq!(item["error_code"], "invalid_number");
    assert!(
        !item["payload_preview"]
            .as_str()
            .unwrap()
            .contains("+15005550001"),
        "preview masks the number: {item}"
    );
    let record_id = item["id"].as_i64().unwrap();

    let (status, groups) = get(
        &h,
        &admin,
        &format!("/v1/admin/dead-letters/groups?{tenant}"),
    )
    .await;
    assert_eq!((status, groups[0]["count"].as_i64()), (200, Some(1)));
    let (status, shown) = get(&h, &admin, &format!("/v1/admin/dead-letters/{record_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(shown["attempts"][0]["outcome"], "parked");
    let (status, payload) = get(
        &h,
        &admin,
        &format!("/v1/admin/dead-letters/{record_id}/payload"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(payload["payload"]["to"], "+15005550001");
    let audit = h.store.audit_list(100).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "dlq.payload.reveal" && e.target["id"] == record_id)
    );

    let (status, bad) = get(&h, &admin, "/v1/admin/dead-letters?since=yesterday").await;
    assert_eq!(status, 422);
    assert_eq!(bad["errors"][0]["pointer"], "since");
    let (status, _) = get(&h, &admin, "/v1/admin/dead-letters/999999999").await;
    assert_eq!(status, 404);

    let filter = json!({ "tenant": h.namespace });
    let (status, dry) = post(
        &h,
        &admin,
        "/v1/admin/dead-letters/replay",
        json!({ "filter": filter, "dry_run": true }),
    )
    .await;
    assert_eq!((status, dry["matched"].as_i64()), (200, Some(1)));
    let (status, refused) = post(
        &h,
        &admin,
        "/v1/admin/dead-letters/purge",
        json!({ "filter": filter }),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    let (status, purged) = post(
        &h,
        &admin,
        "/v1/admin/dead-letters/purge",
        json!({ "filter": filter, "confirm": true }),
    )
    .await;
    assert_eq!((status, purged["purged"].as_i64()), (200, Some(1)));
    let (_, after) = get(&h, &admin, &format!("/v1/admin/dead-letters?{tenant}")).await;
    assert_eq!(after["total"], 0);
    let (status, _) = post(
        &h,
        &admin,
        "/v1/admin/dead-letters/replay",
        json!({ "filter": filter }),
    )
    .await;
    assert_eq!(status, 200, "nothing left to replay is not an error");
    worker.stop().await;
    h.finish().await;
}
