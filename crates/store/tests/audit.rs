//! The audit log: entries come back newest first, and the database refuses edits.

mod common;

use diesel_async::RunQueryDsl;
use serde_json::json;
use switchyard_store::NewAuditEntry;

fn entry(actor: &str, action: &str, count: i64) -> NewAuditEntry {
    NewAuditEntry {
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: json!({"queue": "sms.dead", "filter": {"error_code": "http_500"}, "dry_run": false}),
        count,
    }
}

#[tokio::test]
async fn entries_round_trip_newest_first() -> anyhow::Result<()> {
    let store = common::store().await;
    let actor = common::unique("admin");
    let first = entry(&actor, "dlq.replay", 12);
    let second = entry(&actor, "dlq.purge", 3);
    store.audit(&first).await?;
    store.audit(&second).await?;

    let mine: Vec<_> = store
        .audit_list(1_000)
        .await?
        .into_iter()
        .filter(|r| r.actor == actor)
        .collect();
    assert_eq!(mine.len(), 2);
    assert_eq!((mine[0].action.as_str(), mine[0].count), ("dlq.purge", 3));
    assert_eq!((mine[1].action.as_str(), mine[1].count), ("dlq.replay", 12));
    assert_eq!(mine[1].target, first.target);
    assert!(mine[0].id > mine[1].id && mine[0].at >= mine[1].at);
    Ok(())
}

#[tokio::test]
async fn limits_are_honoured() -> anyhow::Result<()> {
    let store = common::store().await;
    store
        .audit(&entry(&common::unique("admin"), "api_key.create", 1))
        .await?;
    assert_eq!(store.audit_list(1).await?.len(), 1);
    assert!(store.audit_list(0).await?.is_empty());
    assert!(store.audit_list(-5).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn the_log_cannot_be_edited_or_deleted() -> anyhow::Result<()> {
    let store = common::store().await;
    let actor = common::unique("admin");
    store.audit(&entry(&actor, "dlq.purge", 100)).await?;
    let mut conn = common::raw_connection().await;

    let update = diesel::sql_query("UPDATE audit_log SET count = 0 WHERE actor = $1")
        .bind::<diesel::sql_types::Text, _>(&actor)
        .execute(&mut conn)
        .await;
    let err = update.expect_err("UPDATE must be refused").to_string();
    assert!(err.contains("append-only"), "{err}");
    let delete = diesel::sql_query("DELETE FROM audit_log WHERE actor = $1")
        .bind::<diesel::sql_types::Text, _>(&actor)
        .execute(&mut conn)
        .await;
    assert!(delete.is_err(), "DELETE must be refused");

    let kept = store.audit_list(1_000).await?;
    assert!(kept.iter().any(|r| r.actor == actor && r.count == 100));
    Ok(())
}
