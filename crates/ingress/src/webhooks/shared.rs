//! What every verifier shares: the HMAC, the constant-time comparison, the replay window and
//! secrets that never print.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::verifier::Refusal;

/// Timestamp tolerance when the configuration names none: Stripe's, Zoom's and Standard
/// Webhooks' recommended five minutes.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// A signing secret or shared token. `Debug` never shows it, so a logged config is harmless.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps the secret's bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Secret(bytes.into())
    }

    /// The bytes, for keying an HMAC or a comparison.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(switchyard_telemetry::mask::secret(if self.0.is_empty() {
            ""
        } else {
            "set"
        }))
    }
}

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// SHA-256 of `bytes`, as lower-case hex: ids for events that carry none.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Equality that takes as long whatever the inputs, so a forger cannot learn a signature byte
/// by byte from response times.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// True when any of `candidates` equals `expected`; every candidate is compared in full.
pub fn any_ct_eq<'a>(expected: &[u8], candidates: impl IntoIterator<Item = &'a [u8]>) -> bool {
    candidates
        .into_iter()
        .fold(false, |found, c| ct_eq(expected, c) | found)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex to bytes; `None` for anything that is not hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Accepts a signed timestamp only within `tolerance_secs` of now (either side, for clock
/// skew): a captured request replayed later is refused even though its signature is genuine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Largest accepted distance from now, seconds.
    pub tolerance_secs: u64,
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
        }
    }
}

impl ReplayWindow {
    /// Checks `timestamp` (Unix seconds) against `now` (Unix seconds).
    pub fn check(&self, timestamp: i64, now: i64) -> Result<(), Refusal> {
        let age = now.saturating_sub(timestamp);
        if age.unsigned_abs() > self.tolerance_secs {
            return Err(Refusal::Stale {
                age_secs: age,
                tolerance_secs: self.tolerance_secs,
            });
        }
        Ok(())
    }

    /// Parses a Unix-seconds header value, then [`check`](Self::check)s it.
    pub fn check_text(&self, header: &'static str, value: &str, now: i64) -> Result<i64, Refusal> {
        let timestamp = value.trim().parse::<i64>().map_err(|_| {
            Refusal::BadHeader(format!("`{header}` must be Unix seconds, got `{value}`"))
        })?;
        self.check(timestamp, now)?;
        Ok(timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_window_accepts_skew_both_ways_up_to_the_tolerance() {
        let window = ReplayWindow::default();
        assert!(window.check(1_000, 1_300).is_ok());
        assert!(window.check(1_300, 1_000).is_ok());
        let late = window.check(1_000, 1_301).unwrap_err();
        assert!(late.to_string().contains("300"), "{late}");
        assert!(window.check(1_301, 1_000).is_err());
        assert!(window.check(i64::MIN, i64::MAX).is_err());
    }

    #[test]
    fn any_ct_eq_finds_a_match_anywhere() {
        assert!(any_ct_eq(b"b", [&b"a"[..], &b"b"[..]]));
        assert!(!any_ct_eq(b"c", [&b"a"[..], &b"b"[..]]));
        assert!(!any_ct_eq(b"c", []));
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret::new("whsec_abc")), "<redacted>");
    }
}
