//! Idempotent POSTs, as Stripe (`Idempotency-Key`) and PayPal (`PayPal-Request-Id`) offer
//! them: the first request with a key runs and its answer is kept; a retry with the same key
//! and the same request gets that answer back and runs nothing; the same key on another
//! request is refused. Only the wire details (header names, error bodies) differ between the
//! two providers, so the store and its rules live here once.
//!
//! What is kept follows Stripe's documented rule: an answer is stored only once the endpoint
//! began executing (a success, a decline, a business refusal such as "amount too large").
//! A request refused before that (bad credentials, an injected fault, invalid parameters)
//! leaves no trace, so fixing the request and retrying with the same key works.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::Value;

/// A provider answer as it can be replayed: status and JSON body (`None` for an empty one,
/// e.g. PayPal's 204).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Option<Value>,
}

impl Reply {
    /// A JSON answer.
    pub(crate) fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
        }
    }
}

/// Who owns a key (the API key or client id it came with, so two accounts never collide)
/// and the key itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) scope: String,
    pub(crate) key: String,
}

/// What a request with a key gets to do.
#[derive(Debug)]
pub(crate) enum Claim<'a> {
    /// First use: run, then [`Pending::store`] the answer (or drop to forget the key).
    Fresh(Pending<'a>),
    /// Seen before with the same request: answer this and run nothing.
    Replay(Reply),
    /// Seen before with another request (method, path or parameters differ).
    Mismatch,
    /// The first request with this key is still running.
    InFlight,
}

/// One key's state.
#[derive(Clone, Debug)]
enum Entry {
    Running { fingerprint: String },
    Done { fingerprint: String, reply: Reply },
}

/// Every key seen, for the lifetime of the sandbox (Stripe keeps them 24 hours; a sandbox
/// run is shorter than that).
#[derive(Debug, Default)]
pub(crate) struct IdempotencyStore {
    entries: Mutex<HashMap<Key, Entry>>,
}

impl IdempotencyStore {
    /// Claims `key` for a request identified by `fingerprint` (method, path and parameters
    /// in a canonical form, so equal requests have equal fingerprints).
    pub(crate) fn claim(&self, key: Key, fingerprint: String) -> Claim<'_> {
        let mut entries = self.lock();
        match entries.get(&key) {
            Some(Entry::Done {
                fingerprint: first,
                reply,
            }) if *first == fingerprint => Claim::Replay(reply.clone()),
            Some(Entry::Running { fingerprint: first }) if *first == fingerprint => Claim::InFlight,
            Some(_) => Claim::Mismatch,
            None => {
                let running = Entry::Running {
                    fingerprint: fingerprint.clone(),
                };
                entries.insert(key.clone(), running);
                Claim::Fresh(Pending {
                    store: self,
                    key: Some(key),
                    fingerprint,
                })
            }
        }
    }

    /// Entries stay consistent after a panic elsewhere: each update is one insert or remove.
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A key claimed by a running request. Dropped without [`Pending::store`], the key is
/// forgotten, as if it had never been sent.
#[derive(Debug)]
pub(crate) struct Pending<'a> {
    store: &'a IdempotencyStore,
    key: Option<Key>,
    fingerprint: String,
}

impl Pending<'_> {
    /// Keeps `reply` as the answer to every retry with this key.
    pub(crate) fn store(mut self, reply: &Reply) {
        if let Some(key) = self.key.take() {
            let done = Entry::Done {
                fingerprint: std::mem::take(&mut self.fingerprint),
                reply: reply.clone(),
            };
            self.store.lock().insert(key, done);
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.store.lock().remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(k: &str) -> Key {
        Key {
            scope: "sk_test".into(),
            key: k.into(),
        }
    }

    #[test]
    fn a_stored_answer_is_replayed_for_the_same_request_only() {
        let store = IdempotencyStore::default();
        let Claim::Fresh(pending) = store.claim(key("k1"), "POST /v1/refunds a=1".into()) else {
            panic!("first use must be fresh");
        };
        pending.store(&Reply::json(200, json!({"id": "re_1"})));
        let replay = store.claim(key("k1"), "POST /v1/refunds a=1".into());
        assert!(matches!(replay, Claim::Replay(r) if r.body == Some(json!({"id": "re_1"}))));
        let other = store.claim(key("k1"), "POST /v1/refunds a=2".into());
        assert!(matches!(other, Claim::Mismatch));
    }

    #[test]
    fn a_running_key_is_in_flight_and_a_dropped_one_is_forgotten() {
        let store = IdempotencyStore::default();
        let first = store.claim(key("k2"), "f".into());
        assert!(matches!(
            store.claim(key("k2"), "f".into()),
            Claim::InFlight
        ));
        assert!(matches!(
            store.claim(key("k2"), "g".into()),
            Claim::Mismatch
        ));
        drop(first);
        assert!(matches!(
            store.claim(key("k2"), "g".into()),
            Claim::Fresh(_)
        ));
    }

    #[test]
    fn scopes_do_not_share_keys() {
        let store = IdempotencyStore::default();
        let Claim::Fresh(pending) = store.claim(key("k3"), "f".into()) else {
            panic!("fresh");
        };
        pending.store(&Reply::json(200, json!({})));
        let other_account = Key {
            scope: "sk_other".into(),
            key: "k3".into(),
        };
        assert!(matches!(
            store.claim(other_account, "g".into()),
            Claim::Fresh(_)
        ));
    }
}
