//! Replay and edit-and-replay: marked only after a successful publish, exactly one winner
//! among concurrent replayers, and never both replayed and resolved.

mod common;
mod dead_letter_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dead_letter_support as dl;
use serde_json::json;
use switchyard_store::{DeadLetterStatus, PayloadCipher, ReplayOutcome, Store, StoreError};

/// A parked record of a fresh integration, and its cipher.
async fn parked(store: &Store) -> (i64, PayloadCipher, Vec<u8>) {
    let cipher = dl::cipher("k1");
    let letter = dl::letter(&dl::integration(), "21211", "invalid number");
    let id = store
        .insert_dead_letter(&letter, &cipher)
        .await
        .unwrap()
        .unwrap();
    (id, cipher, letter.body)
}

/// A publisher that counts its calls and answers `answer`.
fn publisher(
    calls: &Arc<AtomicUsize>,
    answer: Result<&str, &str>,
) -> impl FnOnce(
    switchyard_store::DeadLetterRecord,
    Vec<u8>,
) -> std::future::Ready<Result<String, String>>
+ Send {
    let calls = Arc::clone(calls);
    let answer = answer.map(str::to_owned).map_err(str::to_owned);
    move |_, _| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(answer)
    }
}

#[tokio::test]
async fn a_replayed_record_is_marked_and_not_replayed_again() -> anyhow::Result<()> {
    let store = common::store().await;
    let (id, cipher, body) = parked(&store).await;
    let seen = Arc::new(std::sync::Mutex::new(None));
    let seen_by_publish = Arc::clone(&seen);
    let outcome = store
        .replay_dead_letter(id, &cipher, async move |record, payload| {
            *seen_by_publish.lock().unwrap() = Some((record.id, record.status, payload));
            Ok("replay-1".to_owned())
        })
        .await?;
    assert_eq!(outcome, ReplayOutcome::Replayed("replay-1".into()));
    assert_eq!(
        *seen.lock().unwrap(),
        Some((id, DeadLetterStatus::Parked, body))
    );

    let record = store.dead_letter(id).await?.unwrap();
    assert_eq!(record.status, DeadLetterStatus::Replayed);
    assert_eq!(record.replay_message_id.as_deref(), Some("replay-1"));
    assert!(record.replayed_at.is_some() && record.resolved_at.is_none());

    let calls = Arc::new(AtomicUsize::new(0));
    let again = store
        .replay_dead_letter(id, &cipher, publisher(&calls, Ok("replay-2")))
        .await?;
    assert_eq!(again, ReplayOutcome::NotParked);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "publish must not run");
    let purge = switchyard_store::DeadLetterFilter {
        ids: vec![id],
        ..Default::default()
    };
    assert_eq!(
        store.purge_dead_letters(&purge).await?,
        0,
        "replayed is not purgeable"
    );
    Ok(())
}

#[tokio::test]
async fn a_failed_publish_leaves_the_record_parked() -> anyhow::Result<()> {
    let store = common::store().await;
    let (id, cipher, _) = parked(&store).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let outcome = store
        .replay_dead_letter(id, &cipher, publisher(&calls, Err("broker down")))
        .await?;
    assert_eq!(outcome, ReplayOutcome::PublishFailed("broker down".into()));
    let record = store.dead_letter(id).await?.unwrap();
    assert_eq!(record.status, DeadLetterStatus::Parked);
    assert_eq!((record.replayed_at, record.replay_message_id), (None, None));

    let retry = store
        .replay_dead_letter(id, &cipher, publisher(&calls, Ok("replay-1")))
        .await?;
    assert_eq!(retry, ReplayOutcome::Replayed("replay-1".into()));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    Ok(())
}

#[tokio::test]
async fn concurrent_replays_publish_exactly_once() -> anyhow::Result<()> {
    let store = common::store_with(4).await;
    let (id, cipher, _) = parked(&store).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let replay = |name: &'static str| {
        let (store, cipher, calls) = (store.clone(), cipher.clone(), Arc::clone(&calls));
        async move {
            store
                .replay_dead_letter(id, &cipher, async move |_, _| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    // Hold the row while the other replayer tries to take it.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok(name.to_owned())
                })
                .await
        }
    };
    let (a, b) = tokio::join!(replay("a"), replay("b"));
    let mut outcomes = [a?, b?];
    outcomes.sort_by_key(|o| matches!(o, ReplayOutcome::NotParked));
    assert!(
        matches!(outcomes[0], ReplayOutcome::Replayed(_)),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], ReplayOutcome::NotParked);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "publish ran once");
    let ReplayOutcome::Replayed(winner) = &outcomes[0] else {
        unreachable!()
    };
    let record = store.dead_letter(id).await?.unwrap();
    assert_eq!(record.replay_message_id.as_ref(), Some(winner));
    Ok(())
}

#[tokio::test]
async fn a_cancelled_replay_leaves_the_record_parked_and_unlocked() -> anyhow::Result<()> {
    let store = common::store().await;
    let (id, cipher, _) = parked(&store).await;
    let hung = store.replay_dead_letter(id, &cipher, async |_, _| {
        std::future::pending::<()>().await;
        Ok("never".to_owned())
    });
    let cancelled = tokio::time::timeout(Duration::from_millis(200), hung).await;
    assert!(cancelled.is_err(), "the publish never finishes");

    // `store` stays alive and unused: had its connection gone back to its pool with the
    // transaction open, the row would stay locked and every replay would report it not parked.
    let other = common::store().await;
    let record = other.dead_letter(id).await?.unwrap();
    assert_eq!(record.status, DeadLetterStatus::Parked);
    let calls = Arc::new(AtomicUsize::new(0));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let outcome = loop {
        let outcome = other
            .replay_dead_letter(id, &cipher, publisher(&calls, Ok("replay-1")))
            .await?;
        if outcome != ReplayOutcome::NotParked || tokio::time::Instant::now() > deadline {
            break outcome;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(outcome, ReplayOutcome::Replayed("replay-1".into()));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    drop(store);
    Ok(())
}

#[tokio::test]
async fn edit_and_replay_resolves_the_original_and_keeps_the_diff() -> anyhow::Result<()> {
    let store = common::store().await;
    let (id, cipher, _) = parked(&store).await;
    let diff = json!([{"op": "replace", "path": "/payload/to", "value": "+15005550006"}]);
    let calls = Arc::new(AtomicUsize::new(0));
    let outcome = store
        .resolve_dead_letter_with_edit(id, diff.clone(), &cipher, publisher(&calls, Ok("edited-1")))
        .await?;
    assert_eq!(outcome, ReplayOutcome::Replayed("edited-1".into()));

    let record = store.dead_letter(id).await?.unwrap();
    assert_eq!(record.status, DeadLetterStatus::Resolved);
    assert_eq!(record.edit_diff, Some(diff.clone()));
    assert_eq!(record.replay_message_id.as_deref(), Some("edited-1"));
    assert!(record.resolved_at.is_some() && record.replayed_at.is_none());

    let replay = store
        .replay_dead_letter(id, &cipher, publisher(&calls, Ok("orig")))
        .await?;
    assert_eq!(
        replay,
        ReplayOutcome::NotParked,
        "the original is never sent as well"
    );
    let edit = store
        .resolve_dead_letter_with_edit(id, diff, &cipher, publisher(&calls, Ok("edited-2")))
        .await?;
    assert_eq!(edit, ReplayOutcome::NotParked);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    Ok(())
}

#[tokio::test]
async fn unknown_purged_or_undecryptable_records_are_not_published() -> anyhow::Result<()> {
    let store = common::store().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let (id, cipher, _) = parked(&store).await;
    let unknown = store
        .replay_dead_letter(i64::MAX, &cipher, publisher(&calls, Ok("x")))
        .await?;
    assert_eq!(unknown, ReplayOutcome::NotParked);

    let err = store
        .replay_dead_letter(id, &dl::cipher("other"), publisher(&calls, Ok("x")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownPayloadKey { .. }), "{err}");
    let record = store.dead_letter(id).await?.unwrap();
    assert_eq!(
        record.status,
        DeadLetterStatus::Parked,
        "a failed replay changes nothing"
    );

    let purge = switchyard_store::DeadLetterFilter {
        ids: vec![id],
        ..Default::default()
    };
    assert_eq!(store.purge_dead_letters(&purge).await?, 1);
    let purged = store
        .replay_dead_letter(id, &cipher, publisher(&calls, Ok("x")))
        .await?;
    assert_eq!(purged, ReplayOutcome::NotParked);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    Ok(())
}
