//! Encryption at rest for parked payloads: AES-256-GCM under a list of named keys.
//!
//! The first key encrypts, every key decrypts. To rotate, put a new key first and keep the old
//! ones until every row they encrypted has been replayed, purged or deleted by retention.

use std::collections::HashSet;
use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Generate, Key, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::StoreError;

/// Bytes of the random nonce stored in front of every ciphertext (GCM's standard 96 bits).
const NONCE_LEN: usize = 12;
/// Bytes of an AES-256 key.
const KEY_LEN: usize = 32;

/// Encrypts and decrypts dead-letter payloads with AES-256-GCM and rotating keys.
///
/// Built from `SWITCHYARD_DLQ_KEYS` with [`PayloadCipher::parse`]. `Debug` shows key ids only.
#[derive(Clone)]
pub struct PayloadCipher {
    /// `(id, cipher)`, the encrypting key first. Never empty.
    keys: Vec<(String, Aes256Gcm)>,
}

impl fmt::Debug for PayloadCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("PayloadCipher")
            .field("key_ids", &ids)
            .finish_non_exhaustive()
    }
}

impl PayloadCipher {
    /// Parses `id1:BASE64KEY[,id2:BASE64KEY…]`: standard base64 of 32 bytes per key, ids
    /// unique and free of `:` and `,`. The first key encrypts; all of them decrypt.
    pub fn parse(spec: &str) -> Result<Self, StoreError> {
        let bad = |why: String| StoreError::PayloadKeys(why);
        if spec.trim().is_empty() {
            return Err(bad("no keys given".to_owned()));
        }
        let mut seen = HashSet::new();
        let mut keys = Vec::new();
        for (n, entry) in spec.split(',').map(str::trim).enumerate() {
            let (id, key) = parse_entry(n + 1, entry).map_err(bad)?;
            if !seen.insert(id.to_owned()) {
                return Err(bad(format!(
                    "key id {id:?} appears twice; ids must be unique"
                )));
            }
            keys.push((id.to_owned(), key));
        }
        Ok(Self { keys })
    }

    /// A fresh random key in the form [`PayloadCipher::parse`] expects after `id:`.
    pub fn generate_key() -> String {
        STANDARD.encode(Key::<Aes256Gcm>::generate())
    }

    /// The id of the key that [`PayloadCipher::encrypt`] uses.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].0
    }

    /// Encrypts with the current key and a fresh random nonce. Returns the key id to store
    /// with the row and `nonce ‖ ciphertext ‖ tag`.
    pub fn encrypt(&self, plaintext: &[u8]) -> (String, Vec<u8>) {
        let (id, cipher) = &self.keys[0];
        let nonce = Nonce::<Aes256Gcm>::generate();
        let sealed = cipher
            .encrypt(&nonce, plaintext)
            // Only fails past GCM's 64 GiB message limit; a parked message is nowhere near.
            .expect("AES-GCM encryption of a message under 64 GiB cannot fail");
        let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        (id.clone(), blob)
    }

    /// Decrypts a blob from [`PayloadCipher::encrypt`] with the key named `key_id`. Fails if
    /// the key is not configured or the blob was altered.
    pub fn decrypt(&self, key_id: &str, blob: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(id, _)| id == key_id)
            .ok_or_else(|| StoreError::UnknownPayloadKey {
                key_id: key_id.to_owned(),
            })?;
        let undecryptable = || StoreError::PayloadUndecryptable {
            key_id: key_id.to_owned(),
        };
        if blob.len() < NONCE_LEN {
            return Err(undecryptable());
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::<Aes256Gcm>::try_from(nonce).map_err(|_| undecryptable())?;
        cipher.decrypt(&nonce, sealed).map_err(|_| undecryptable())
    }
}

/// Parses the `n`th entry, `id:BASE64KEY`. The error says which entry and what is wrong,
/// without echoing key material.
fn parse_entry(n: usize, entry: &str) -> Result<(&str, Aes256Gcm), String> {
    let (id, encoded) = entry
        .split_once(':')
        .ok_or_else(|| format!("entry {n} has no `:` between key id and key"))?;
    let id = id.trim();
    if id.is_empty() {
        return Err(format!("entry {n} has an empty key id"));
    }
    let bytes = STANDARD
        .decode(encoded.trim())
        .map_err(|_| format!("the key of {id:?} is not valid standard base64"))?;
    if bytes.len() != KEY_LEN {
        return Err(format!(
            "the key of {id:?} is {} bytes; AES-256 needs exactly {KEY_LEN}",
            bytes.len()
        ));
    }
    let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| format!("bad key {id:?}"))?;
    Ok((id, cipher))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ids: &[&str]) -> String {
        let entries: Vec<String> = ids
            .iter()
            .map(|id| format!("{id}:{}", PayloadCipher::generate_key()))
            .collect();
        entries.join(",")
    }

    #[test]
    fn generated_keys_are_32_bytes_of_base64_and_differ() {
        let (a, b) = (PayloadCipher::generate_key(), PayloadCipher::generate_key());
        assert_eq!(STANDARD.decode(&a).unwrap().len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn nonces_are_fresh_so_equal_plaintexts_encrypt_differently() {
        let cipher = PayloadCipher::parse(&spec(&["k1"])).unwrap();
        let (_, a) = cipher.encrypt(b"same");
        let (_, b) = cipher.encrypt(b"same");
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
        assert_eq!(a.len(), NONCE_LEN + 4 + 16);
    }

    #[test]
    fn debug_shows_ids_not_keys() {
        let text = spec(&["new", "old"]);
        let shown = format!("{:?}", PayloadCipher::parse(&text).unwrap());
        assert!(
            shown.contains("\"new\"") && shown.contains("\"old\""),
            "{shown}"
        );
        let first_key = text.split(',').next().unwrap().split_once(':').unwrap().1;
        assert!(!shown.contains(first_key), "{shown}");
    }

    #[test]
    fn short_blobs_are_rejected_not_panicked_on() {
        let cipher = PayloadCipher::parse(&spec(&["k1"])).unwrap();
        let err = cipher.decrypt("k1", b"short").unwrap_err();
        assert!(
            matches!(err, StoreError::PayloadUndecryptable { .. }),
            "{err}"
        );
    }
}
