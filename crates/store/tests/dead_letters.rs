//! Dead letters at rest: payloads encrypted, stored once, searched, grouped, purged, archived
//! and deleted by retention. The cipher alone is in `dead_letters_cipher.rs`, replays in
//! `dead_letters_replay.rs`.

mod common;
mod dead_letter_support;

use chrono::{Duration, Utc};
use dead_letter_support::{self as dl, EMAIL, PHONE};
use switchyard_store::{DeadLetterFilter, DeadLetterStatus, StoreError};

#[tokio::test]
async fn payloads_are_encrypted_at_rest_and_previews_masked() -> anyhow::Result<()> {
    let store = common::store().await;
    let cipher = dl::cipher("k1");
    let letter = dl::letter(&dl::integration(), "21211", "invalid number");
    let id = store.insert_dead_letter(&letter, &cipher).await?.unwrap();

    let raw = dl::raw_row(id).await;
    for secret in [PHONE, EMAIL, "Report cards", "sms.send"] {
        assert!(
            !dl::contains(&raw.payload, secret.as_bytes()),
            "{secret} in clear"
        );
    }
    assert!(!raw.payload_preview.contains(PHONE) && !raw.payload_preview.contains(EMAIL));
    assert!(
        raw.payload_preview.contains("+155*****321"),
        "{}",
        raw.payload_preview
    );
    assert!(
        raw.payload_preview.contains("a***@example.org"),
        "{}",
        raw.payload_preview
    );

    let payload = store.dead_letter_payload(id, &cipher).await?;
    assert_eq!(payload.as_deref(), Some(letter.body.as_slice()));
    assert_eq!(store.dead_letter_payload(i64::MAX, &cipher).await?, None);
    let err = store
        .dead_letter_payload(id, &dl::cipher("k2"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownPayloadKey { .. }), "{err}");
    Ok(())
}

#[tokio::test]
async fn the_same_parked_copy_is_stored_once() -> anyhow::Result<()> {
    let store = common::store().await;
    let cipher = dl::cipher("k1");
    let integration = dl::integration();
    let letter = dl::letter(&integration, "21211", "invalid number");
    let first = store.insert_dead_letter(&letter, &cipher).await?;
    let second = store.insert_dead_letter(&letter, &cipher).await?;
    assert!(first.is_some());
    assert_eq!(second, None);
    assert_eq!(store.count_dead_letters(&dl::of(&integration)).await?, 1);

    let record = store.dead_letter(first.unwrap()).await?.unwrap();
    assert_eq!(record.dedupe_key, letter.dedupe_key);
    assert_eq!(record.headers, letter.headers);
    assert_eq!(record.worker.as_deref(), Some("sms-1"));
    assert_eq!(record.error_normalized, "invalid number");
    assert_eq!(record.status, DeadLetterStatus::Parked);
    Ok(())
}

#[tokio::test]
async fn filters_paging_and_counts_agree() -> anyhow::Result<()> {
    let store = common::store().await;
    let cipher = dl::cipher("k1");
    let integration = dl::integration();
    let mut ids = Vec::new();
    for (code, reason) in [
        ("21211", "The 'To' number +15005550001 is not valid"),
        ("21211", "The 'To' number +15005550002 is not valid"),
        ("21610", "Attempt to send to UNSUBSCRIBED recipient"),
        ("http_500", "provider said 100% failure_rate"),
        ("http_500", "provider said 1000 failures"),
    ] {
        let mut letter = dl::letter(&integration, code, reason);
        if code == "http_500" {
            letter.error_class = "retryable_exhausted".to_owned();
            letter.tenant = None;
        }
        ids.push(store.insert_dead_letter(&letter, &cipher).await?.unwrap());
    }
    let count = |f: DeadLetterFilter| {
        let store = store.clone();
        async move { store.count_dead_letters(&f).await.unwrap() }
    };
    let base = dl::of(&integration);
    let with = |edit: fn(&mut DeadLetterFilter)| {
        let mut f = base.clone();
        edit(&mut f);
        f
    };
    assert_eq!(count(base.clone()).await, 5);
    assert_eq!(
        count(with(|f| f.error_code = Some("21211".into()))).await,
        2
    );
    assert_eq!(
        count(with(|f| f.error_class = Some("retryable_exhausted".into()))).await,
        2
    );
    assert_eq!(
        count(with(|f| f.text = Some("unsubscribed".into()))).await,
        1
    );
    assert_eq!(
        count(with(|f| f.text = Some("0% f".into()))).await,
        1,
        "% is literal"
    );
    assert_eq!(
        count(with(|f| f.text = Some("e_r".into()))).await,
        1,
        "_ is literal"
    );
    assert_eq!(
        count(with(|f| f.text = Some("s_id".into()))).await,
        0,
        "as a wildcard, _ would match both \"said\""
    );
    assert_eq!(count(with(|f| f.tenant = Some("school-1".into()))).await, 3);
    assert_eq!(
        count(with(|f| f.message_type = Some("email.send".into()))).await,
        0
    );
    assert_eq!(
        count(with(|f| f.status = Some(DeadLetterStatus::Replayed))).await,
        0
    );
    let two = DeadLetterFilter {
        ids: vec![ids[0], ids[4]],
        ..base.clone()
    };
    assert_eq!(count(two).await, 2);

    let first = store.dead_letter(ids[0]).await?.unwrap();
    let group = DeadLetterFilter {
        group_id: Some(first.group_id.clone()),
        ..base.clone()
    };
    assert_eq!(
        count(group).await,
        2,
        "the two invalid numbers share a group"
    );

    dl::backdate(ids[2], "parked_at", "2 days").await;
    let day_ago = Utc::now() - Duration::days(1);
    let recent = DeadLetterFilter {
        since: Some(day_ago),
        ..base.clone()
    };
    let older = DeadLetterFilter {
        until: Some(day_ago),
        ..base.clone()
    };
    assert_eq!(count(recent).await, 4);
    let old = store.list_dead_letters(&older, 10, 0).await?;
    assert_eq!(old.iter().map(|s| s.id).collect::<Vec<_>>(), [ids[2]]);

    let page1 = store.list_dead_letters(&base, 2, 0).await?;
    let page2 = store.list_dead_letters(&base, 2, 2).await?;
    let page3 = store.list_dead_letters(&base, 2, 4).await?;
    let listed: Vec<i64> = [page1, page2, page3]
        .concat()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(
        listed,
        [ids[4], ids[3], ids[1], ids[0], ids[2]],
        "newest first"
    );
    let summary = &store.list_dead_letters(&base, 1, 0).await?[0];
    assert_eq!(
        (summary.error_code.as_str(), summary.attempts),
        ("http_500", 3)
    );
    assert!(
        !summary.payload_preview.contains(PHONE),
        "{}",
        summary.payload_preview
    );
    assert!(store.list_dead_letters(&base, 0, 0).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn failures_of_one_cause_form_one_group() -> anyhow::Result<()> {
    let store = common::store().await;
    let cipher = dl::cipher("k1");
    let integration = dl::integration();
    let mut ids = Vec::new();
    for n in 0..100 {
        let reason = format!(
            "The 'To' number +1555{n:07} is not valid (message {}, attempt {n})",
            uuid::Uuid::new_v4()
        );
        let letter = dl::letter(&integration, "21211", &reason);
        ids.push(store.insert_dead_letter(&letter, &cipher).await?.unwrap());
    }
    let other = dl::letter(&integration, "21610", "unsubscribed recipient");
    store.insert_dead_letter(&other, &cipher).await?;
    dl::backdate(ids[0], "parked_at", "3 hours").await;

    let groups = store.dead_letter_groups(&dl::of(&integration)).await?;
    assert_eq!(groups.len(), 2, "{groups:?}");
    let big = &groups[0];
    assert_eq!((big.count, groups[1].count), (100, 1), "biggest first");
    assert_eq!(big.error_code, "21211");
    assert_eq!(
        big.error_normalized,
        "The 'To' number <phone> is not valid (message <uuid>, attempt <n>)"
    );
    let oldest = store.dead_letter(ids[0]).await?.unwrap();
    let newest = store.dead_letter(ids[99]).await?.unwrap();
    assert_eq!(big.first_seen, oldest.parked_at);
    assert_eq!(big.last_seen, newest.parked_at);
    assert_eq!(oldest.group_id, big.group_id);

    let counts = store.parked_counts().await?;
    assert!(counts.contains(&(integration.clone(), 101)), "{counts:?}");
    Ok(())
}

#[tokio::test]
async fn purge_destroys_payloads_of_matching_parked_records() -> anyhow::Result<()> {
    let store = common::store().await;
    let cipher = dl::cipher("k1");
    let integration = dl::integration();
    let mut purged = Vec::new();
    for _ in 0..3 {
        let letter = dl::letter(&integration, "21211", "invalid number");
        purged.push(store.insert_dead_letter(&letter, &cipher).await?.unwrap());
    }
    let kept_letter = dl::letter(&integration, "21610", "unsubscribed");
    let kept = store
        .insert_dead_letter(&kept_letter, &cipher)
        .await?
        .unwrap();

    let by_code = DeadLetterFilter {
        error_code: Some("21211".into()),
        ..dl::of(&integration)
    };
    assert_eq!(store.purge_dead_letters(&by_code).await?, 3);
    assert_eq!(
        store.purge_dead_letters(&by_code).await?,
        0,
        "already purged"
    );
    assert_eq!(store.count_dead_letters(&by_code).await?, 0);
    let gone = DeadLetterFilter {
        status: Some(DeadLetterStatus::Purged),
        ..by_code
    };
    assert_eq!(store.count_dead_letters(&gone).await?, 3);
    for id in purged {
        let raw = dl::raw_row(id).await;
        assert!(raw.payload.is_empty());
        assert_eq!(raw.payload_preview, "<purged>");
        let err = store.dead_letter_payload(id, &cipher).await.unwrap_err();
        assert!(matches!(err, StoreError::PayloadPurged { .. }), "{err}");
    }
    let still = store.dead_letter_payload(kept, &cipher).await?;
    assert_eq!(still.as_deref(), Some(kept_letter.body.as_slice()));
    assert_eq!(store.count_dead_letters(&dl::of(&integration)).await?, 1);
    Ok(())
}

#[tokio::test]
async fn old_parked_records_are_archived_then_deleted_by_retention() -> anyhow::Result<()> {
    let store = common::store().await;
    let cipher = dl::cipher("k1");
    let integration = dl::integration();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let letter = dl::letter(&integration, "21211", "invalid number");
        ids.push(store.insert_dead_letter(&letter, &cipher).await?.unwrap());
    }
    let [fresh, old, older] = ids[..] else {
        unreachable!()
    };
    dl::backdate(old, "parked_at", "10 days").await;
    dl::backdate(older, "parked_at", "60 days").await;

    // Other tests' rows are younger than 5 days; leftovers of earlier runs may also match.
    assert!(store.archive_dead_letters(Duration::days(5)).await? >= 2);
    let status = |id| {
        let store = store.clone();
        async move { store.dead_letter(id).await.unwrap().map(|r| r.status) }
    };
    assert_eq!(status(fresh).await, Some(DeadLetterStatus::Parked));
    assert_eq!(status(old).await, Some(DeadLetterStatus::Archived));
    assert!(store.dead_letter(old).await?.unwrap().archived_at.is_some());

    dl::backdate(older, "archived_at", "40 days").await;
    assert!(store.delete_archived(30).await? >= 1);
    assert_eq!(status(older).await, None, "deleted by retention");
    assert_eq!(
        status(old).await,
        Some(DeadLetterStatus::Archived),
        "archived recently"
    );
    assert_eq!(status(fresh).await, Some(DeadLetterStatus::Parked));

    assert!(matches!(
        store.delete_archived(-1).await,
        Err(StoreError::Invalid(_))
    ));
    let err = store
        .archive_dead_letters(Duration::days(-1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("negative"), "{err}");
    Ok(())
}
