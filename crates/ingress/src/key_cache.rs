//! A short-lived cache of authenticated publisher keys, so a busy publisher does not cost a
//! Postgres round trip per message. Entries live `ttl` (a revoked key keeps working that long
//! at most — the README says so); tokens are held only as SHA-256 digests; the cache is
//! bounded and simply cleared when full. The admin API never uses it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use switchyard_store::ApiKeyRecord;

/// Most keys remembered at once; a real deployment has tens.
const CAPACITY: usize = 10_000;

/// The cache.
#[derive(Debug)]
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], (ApiKeyRecord, Instant)>>,
}

impl KeyCache {
    /// A cache keeping keys for `ttl` (zero disables it).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
        }
    }

    /// The key for `token`, if authenticated less than `ttl` ago.
    pub fn get(&self, token: &str) -> Option<ApiKeyRecord> {
        let entries = self.entries.lock().expect("key cache lock poisoned");
        let (key, at) = entries.get(&digest(token))?;
        (at.elapsed() < self.ttl).then(|| key.clone())
    }

    /// Remembers a successful authentication.
    pub fn put(&self, token: &str, key: &ApiKeyRecord) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().expect("key cache lock poisoned");
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(digest(token), (key.clone(), Instant::now()));
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_store::Role;

    fn key() -> ApiKeyRecord {
        ApiKeyRecord {
            id: uuid::Uuid::new_v4(),
            name: "erp".into(),
            role: Role::Publisher,
            scopes: vec!["sms.".into()],
            prefix: "abcdefgh".into(),
            created_at: chrono::Utc::now(),
            revoked_at: None,
            last_used_at: None,
        }
    }

    #[test]
    fn remembers_for_the_ttl_only_and_by_exact_token() {
        let cache = KeyCache::new(Duration::from_millis(50));
        let k = key();
        cache.put("sy_token", &k);
        assert_eq!(cache.get("sy_token").map(|c| c.id), Some(k.id));
        assert!(cache.get("sy_other").is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(
            cache.get("sy_token").is_none(),
            "expired entries are not used"
        );
    }

    #[test]
    fn a_zero_ttl_disables_it() {
        let cache = KeyCache::new(Duration::ZERO);
        cache.put("sy_token", &key());
        assert!(cache.get("sy_token").is_none());
    }
}
