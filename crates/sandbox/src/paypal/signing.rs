//! PayPal's webhook signature: SHA256withRSA (RSA PKCS#1 v1.5, SHA-256) over
//! `{transmission_id}|{transmission_time}|{webhook_id}|{crc32 of the body, unsigned decimal}`,
//! base64 in `PAYPAL-TRANSMISSION-SIG`, with the certificate at `PAYPAL-CERT-URL`. The key and
//! certificate are the throwaway fixtures in `fixtures/` (see its README).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{
    KeyPair, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};

/// The signing key (PKCS#8 PEM).
const KEY_PEM: &str = include_str!("../../fixtures/paypal-webhook-signing.key.pem");
/// Its self-signed certificate, served at the cert URL.
pub(crate) const CERT_PEM: &str = include_str!("../../fixtures/paypal-webhook-signing.crt.pem");
/// The certificate's name in its URL (`/v1/notifications/certs/{CERT_NAME}`).
pub(crate) const CERT_NAME: &str = "CERT-sandbox";
/// `PAYPAL-AUTH-ALGO`.
pub(crate) const AUTH_ALGO: &str = "SHA256withRSA";

/// Signs webhooks and checks signatures, with the fixture key.
#[derive(Debug)]
pub(crate) struct Signer {
    key: RsaKeyPair,
}

impl Signer {
    /// Loads the fixture key.
    pub(crate) fn new() -> Result<Self, String> {
        let der = crate::jws::der(KEY_PEM).map_err(|e| format!("the PayPal signing key: {e}"))?;
        let key =
            RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("the PayPal signing key: {e}"))?;
        Ok(Self { key })
    }

    /// `PAYPAL-TRANSMISSION-SIG` for a transmission.
    pub(crate) fn sign(&self, transmission: &Transmission<'_>) -> String {
        let mut signature = vec![0; self.key.public().modulus_len()];
        let signed = self.key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            transmission.message().as_bytes(),
            &mut signature,
        );
        // Signing with a valid key into a buffer of the modulus' length cannot fail.
        debug_assert!(signed.is_ok());
        STANDARD.encode(signature)
    }

    /// Whether `signature` (base64) is this key's signature of the transmission.
    pub(crate) fn verify(&self, transmission: &Transmission<'_>, signature: &str) -> bool {
        let Ok(signature) = STANDARD.decode(signature.trim()) else {
            return false;
        };
        let public =
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, self.key.public_key().as_ref());
        public
            .verify(transmission.message().as_bytes(), &signature)
            .is_ok()
    }
}

/// What one webhook's signature covers.
pub(crate) struct Transmission<'a> {
    pub(crate) id: &'a str,
    pub(crate) time: &'a str,
    pub(crate) webhook_id: &'a str,
    pub(crate) body: &'a [u8],
}

impl Transmission<'_> {
    /// `id|time|webhook_id|crc32(body)`.
    fn message(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.id,
            self.time,
            self.webhook_id,
            crc32(self.body)
        )
    }
}

/// CRC-32 (IEEE 802.3: reflected, polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF),
/// the checksum PayPal puts in the signed message. Bit by bit rather than with a table:
/// webhook bodies are a few kilobytes and this runs once per webhook.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let signer = Signer::new().expect("the fixture key loads");
        let transmission = Transmission {
            id: "t1",
            time: "2026-01-01T00:00:00Z",
            webhook_id: "WH-1",
            body: b"{\"id\":\"WH-EVT\"}",
        };
        let signature = signer.sign(&transmission);
        assert!(signer.verify(&transmission, &signature));
        let altered = Transmission {
            body: b"{\"id\":\"WH-EVU\"}",
            ..transmission
        };
        assert!(!signer.verify(&altered, &signature));
        let other_hook = Transmission {
            webhook_id: "WH-2",
            ..altered
        };
        assert!(!signer.verify(&other_hook, &signature));
    }
}
