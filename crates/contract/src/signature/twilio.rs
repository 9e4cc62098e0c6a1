//! Twilio's `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, url + sorted form params)).
//!
//! Twilio signs the full public URL it called (scheme, host, path and query) followed by every
//! POST parameter, sorted by name, each as name immediately followed by value. The comparison is
//! constant-time so an attacker cannot learn the signature byte by byte.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Computes the signature Twilio sends for a POST to `url` with the form `params`.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// True when `signature` is the one Twilio would send for this request; constant-time.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let expected = sign(auth_token, url, params);
    expected.as_bytes().ct_eq(signature.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn matches_twilio_documented_example() {
        // The worked example from Twilio's "Validating requests" documentation.
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let sig = sign("12345", url, &params());
        assert_eq!(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify("12345", url, &params(), &sig));
    }

    #[test]
    fn rejects_tampered_params_url_or_token() {
        let url = "https://example.org/webhooks/twilio/status";
        let sig = sign("token", url, &params());
        let mut tampered = params();
        tampered[2].1 = "9999".into();
        assert!(!verify("token", url, &tampered, &sig));
        assert!(!verify(
            "token",
            "https://example.org/other",
            &params(),
            &sig
        ));
        assert!(!verify("other-token", url, &params(), &sig));
        assert!(!verify("token", url, &params(), ""));
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let url = "https://example.org/hook";
        let mut reversed = params();
        reversed.reverse();
        assert_eq!(sign("t", url, &params()), sign("t", url, &reversed));
    }
}
