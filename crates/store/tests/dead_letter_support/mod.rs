//! Builders shared by the dead-letter tests: a cipher with fresh keys, parked messages of a
//! test-only integration, and raw access to the table the way an operator (or thief) sees it.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bytea, Text};
use diesel_async::RunQueryDsl;
use serde_json::json;
use switchyard_store::{DeadLetterFilter, NewDeadLetter, PayloadCipher};

use crate::common;

/// A phone number and an email that must never appear in clear in the table.
pub const PHONE: &str = "+15557654321";
/// See [`PHONE`].
pub const EMAIL: &str = "ada.lovelace@example.org";

/// A cipher with one fresh key named `id`.
pub fn cipher(id: &str) -> PayloadCipher {
    PayloadCipher::parse(&format!("{id}:{}", PayloadCipher::generate_key())).unwrap()
}

/// An integration name no other test uses, so filters see only this test's rows.
pub fn integration() -> String {
    common::unique("dlqtest")
}

/// A message body with a recipient's phone and email in it.
pub fn body(message_id: &str) -> Vec<u8> {
    json!({
        "id": message_id,
        "type": "sms.send",
        "payload": {"to": PHONE, "reply_to": EMAIL, "body": "Report cards are ready"}
    })
    .to_string()
    .into_bytes()
}

/// A parked SMS of `integration` that failed with `code` and `reason`.
pub fn letter(integration: &str, code: &str, reason: &str) -> NewDeadLetter {
    let message_id = uuid::Uuid::new_v4().to_string();
    NewDeadLetter {
        integration: integration.to_owned(),
        queue: format!("switchyard.{integration}.dead"),
        message_id: message_id.clone(),
        message_type: Some("sms.send".to_owned()),
        tenant: Some("school-1".to_owned()),
        original_routing_key: "sms.send".to_owned(),
        headers: json!({
            "x-switchyard-attempts": 3,
            "x-death": [{"count": 1, "reason": "rejected"}]
        }),
        body: body(&message_id),
        reason: reason.to_owned(),
        error_class: "permanent".to_owned(),
        error_code: code.to_owned(),
        attempts: 3,
        first_failure_at: Some(chrono::Utc::now() - chrono::Duration::minutes(5)),
        last_failure_at: Some(chrono::Utc::now()),
        worker: Some("sms-1".to_owned()),
        dedupe_key: common::unique("dedupe"),
    }
}

/// The parked records of `integration`.
pub fn of(integration: &str) -> DeadLetterFilter {
    DeadLetterFilter {
        integration: Some(integration.to_owned()),
        ..DeadLetterFilter::default()
    }
}

/// The stored bytes and preview of one row, read straight from the table.
#[derive(QueryableByName)]
pub struct RawRow {
    /// The `payload` column.
    #[diesel(sql_type = Bytea)]
    pub payload: Vec<u8>,
    /// The `payload_preview` column.
    #[diesel(sql_type = Text)]
    pub payload_preview: String,
}

/// Reads one row's payload columns without the store.
pub async fn raw_row(id: i64) -> RawRow {
    let mut conn = common::raw_connection().await;
    diesel::sql_query("SELECT payload, payload_preview FROM dead_letters WHERE id = $1")
        .bind::<BigInt, _>(id)
        .get_result(&mut conn)
        .await
        .unwrap()
}

/// Moves one of `column`'s timestamps `age` into the past (e.g. `'2 days'`), as if the row
/// had been parked or archived long ago.
pub async fn backdate(id: i64, column: &str, age: &str) {
    assert!(["parked_at", "archived_at"].contains(&column));
    let mut conn = common::raw_connection().await;
    let sql = format!("UPDATE dead_letters SET {column} = now() - $2::interval WHERE id = $1");
    let rows = diesel::sql_query(sql)
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(age)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

/// True if `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
