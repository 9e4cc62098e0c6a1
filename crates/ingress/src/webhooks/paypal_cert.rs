//! PayPal, verified offline (`verify = "certificate"`): PayPal signs
//! `{PAYPAL-TRANSMISSION-ID}|{PAYPAL-TRANSMISSION-TIME}|{webhook id}|{crc32}` — our webhook id,
//! the CRC-32 of the raw body as an unsigned decimal — with SHA256withRSA, and sends the
//! base64 signature in `PAYPAL-TRANSMISSION-SIG` and the signing certificate's address in
//! `PAYPAL-CERT-URL`. We check the algorithm and the transmission time, then fetch the
//! certificate, only from an allow-listed origin ([`origin`]), check and cache it
//! ([`certs`]), and verify the signature with ring.
//!
//! A certificate that cannot be fetched (PayPal down, a timeout, a 5xx) is a 503, so PayPal
//! retries later. Everything else that fails — another algorithm, a stale time, a host off the
//! list, an expired or non-PayPal certificate, a signature that does not match the bytes — is a
//! 401 refusal.

pub mod certs;
pub mod origin;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

use super::paypal;
use super::shared::ReplayWindow;
use super::verifier::{Inbound, Refusal, Verified};

/// The only `PAYPAL-AUTH-ALGO` accepted.
pub const AUTH_ALGO: &str = "SHA256withRSA";

/// A PayPal webhook's verifier in certificate mode.
#[derive(Debug)]
pub struct PayPalCert {
    /// The webhook's id, as PayPal shows it for this listener; part of what PayPal signs.
    pub webhook_id: String,
    /// The tolerance on `PAYPAL-TRANSMISSION-TIME`.
    pub window: ReplayWindow,
    /// Where certificates may come from, and the ones already fetched.
    pub certificates: certs::Certificates,
}

impl PayPalCert {
    /// Checks the signature against PayPal's certificate; the event's `id` becomes the
    /// message id.
    pub async fn verify(&self, request: &Inbound<'_>) -> Result<Verified, Refusal> {
        let algo = request.header("paypal-auth-algo")?;
        if !algo.eq_ignore_ascii_case(AUTH_ALGO) {
            return Err(Refusal::BadHeader(format!(
                "`PAYPAL-AUTH-ALGO` is `{algo}`; only {AUTH_ALGO} is accepted"
            )));
        }
        let signature = STANDARD
            .decode(request.header("paypal-transmission-sig")?)
            .map_err(|_| Refusal::BadHeader("`PAYPAL-TRANSMISSION-SIG` is not base64".into()))?;
        let transmission_id = request.header("paypal-transmission-id")?;
        // Before the fetch: a replayed request costs nothing.
        paypal::check_time(request, self.window)?;
        let key = self
            .certificates
            .key(request.header("paypal-cert-url")?, request.now)
            .await?;
        let message = signed_message(
            transmission_id,
            request.header("paypal-transmission-time")?,
            &self.webhook_id,
            request.body,
        );
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &*key)
            .verify(message.as_bytes(), &signature)
            .map_err(|_| Refusal::BadSignature)?;
        paypal::event(request.json()?)
    }
}

/// What PayPal signs for a transmission (tests and the sandbox sign it too).
pub fn signed_message(transmission_id: &str, time: &str, webhook_id: &str, body: &[u8]) -> String {
    format!("{transmission_id}|{time}|{webhook_id}|{}", crc32(body))
}

/// CRC-32 as zlib computes it (IEEE 802.3, reflected, init and final XOR `0xFFFFFFFF`).
/// Our own eight lines rather than a crate: it runs once per webhook over a few KB, so the
/// bitwise loop is fast enough, and a dependency would buy only speed we do not need.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_zlibs() {
        // The standard check value, then values Python's `zlib.crc32` gives.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 3_904_355_907);
        assert_eq!(crc32(br#"{"id":"WH-1"}"#), 838_965_618);
        let every_byte: Vec<u8> = (0..=255).cycle().take(1024).collect();
        assert_eq!(crc32(&every_byte), 3_070_970_918);
    }

    #[test]
    fn the_signed_message_uses_the_decimal_crc() {
        assert_eq!(
            signed_message("id-1", "2026-11-28T10:00:00Z", "WH-1", b"123456789"),
            "id-1|2026-11-28T10:00:00Z|WH-1|3421780262"
        );
    }
}
