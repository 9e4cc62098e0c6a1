//! API key tokens: `sy_` + 40 base62 characters from the OS random generator.
//!
//! Only the SHA-256 of a token is stored. Tokens carry ~238 random bits, so a plain, unsalted
//! hash is enough: nobody can brute-force it, and it lets `authenticate` look the key up by
//! hash instead of comparing secrets.

use std::fmt::Write;

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Marks a string as a Switchyard token (and makes leaked tokens easy to grep for).
const PREFIX: &str = "sy_";
/// Random characters after the prefix.
const SECRET_LEN: usize = 40;
/// Characters of the secret shown in listings; 8 of 40 reveal nothing useful.
const DISPLAY_LEN: usize = 8;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A fresh random token.
pub(crate) fn generate() -> String {
    let mut token = String::with_capacity(PREFIX.len() + SECRET_LEN);
    token.push_str(PREFIX);
    while token.len() < PREFIX.len() + SECRET_LEN {
        for byte in random_bytes() {
            // Accept only bytes below 248 = 4 * 62, so every character is equally likely.
            if byte < 248 && token.len() < PREFIX.len() + SECRET_LEN {
                token.push(char::from(ALPHABET[usize::from(byte % 62)]));
            }
        }
    }
    token
}

/// The 14 bytes of a v4 UUID that come straight from the OS generator (`getrandom`, via the
/// uuid crate); bytes 6 and 8 carry the version and variant bits.
fn random_bytes() -> impl Iterator<Item = u8> {
    Uuid::new_v4()
        .into_bytes()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 6 && *i != 8)
        .map(|(_, byte)| byte)
}

/// True when `token` has the shape of one of ours; anything else is rejected unhashed.
pub(crate) fn is_well_formed(token: &str) -> bool {
    token.strip_prefix(PREFIX).is_some_and(|secret| {
        secret.len() == SECRET_LEN && secret.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Lower-case hex SHA-256 of the token: what the database stores.
pub(crate) fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// The non-secret start of a token, for telling keys apart in listings.
pub(crate) fn display_prefix(token: &str) -> String {
    token.chars().skip(PREFIX.len()).take(DISPLAY_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let a = generate();
        let b = generate();
        assert!(a.starts_with("sy_") && a.len() == 43, "{a}");
        assert!(is_well_formed(&a) && is_well_formed(&b));
        assert_ne!(a, b);
    }

    #[test]
    fn malformed_tokens_are_recognised() {
        assert!(!is_well_formed(""));
        assert!(!is_well_formed("sy_short"));
        assert!(!is_well_formed(&format!("xx_{}", "a".repeat(40))));
        assert!(!is_well_formed(&format!("sy_{}-", "a".repeat(39))));
        assert!(is_well_formed(&format!("sy_{}", "a".repeat(40))));
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn display_prefix_is_the_first_eight_secret_characters() {
        assert_eq!(display_prefix("sy_ABCDEFGHrest"), "ABCDEFGH");
    }
}
