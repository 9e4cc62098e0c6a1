//! Standard Webhooks (standardwebhooks.com, Svix's scheme): `webhook-id`, `webhook-timestamp`
//! and `webhook-signature`, a space-separated list of `v1,<base64>` (several while a secret
//! rotates), each HMAC-SHA256 of `{id}.{timestamp}.{raw body}` under the base64-decoded part of
//! a `whsec_…` secret. `webhook-id` is the message id.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::shared::{ReplayWindow, Secret, any_ct_eq, hmac_sha256};
use super::verifier::{Event, Inbound, Refusal, Verified, text_field};

/// A Standard Webhooks source's verifier.
#[derive(Debug)]
pub struct Standard {
    /// The decoded signing keys (current and previous).
    pub keys: Vec<Secret>,
    /// The timestamp tolerance.
    pub window: ReplayWindow,
}

/// Decodes a `whsec_<base64>` secret (the prefix is optional, as in the reference libraries).
pub fn decode_secret(secret: &str) -> Result<Secret, String> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    STANDARD
        .decode(encoded)
        .map(Secret::new)
        .map_err(|_| "a Standard Webhooks secret is `whsec_` followed by base64".to_owned())
}

impl Standard {
    /// Checks the signatures and the timestamp.
    pub fn verify(&self, request: &Inbound<'_>) -> Result<Verified, Refusal> {
        let id = request.header("webhook-id")?;
        let timestamp = request.header("webhook-timestamp")?;
        let signatures: Vec<Vec<u8>> = request
            .header("webhook-signature")?
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .filter_map(|s| STANDARD.decode(s).ok())
            .collect();
        let signed = [
            id.as_bytes(),
            b".",
            timestamp.as_bytes(),
            b".",
            request.body,
        ];
        let matched = self.keys.iter().fold(false, |found, key| {
            let expected = hmac_sha256(key.expose(), &signed);
            any_ct_eq(&expected, signatures.iter().map(Vec::as_slice)) | found
        });
        if !matched {
            return Err(Refusal::BadSignature);
        }
        self.window
            .check_text("webhook-timestamp", timestamp, request.now)?;
        let body = request.json()?;
        Ok(Verified::Events(vec![Event {
            id: id.to_owned(),
            event_type: text_field(&body, "type"),
            body,
        }]))
    }
}

/// The headers a Standard Webhooks sender would send (tests and the sandbox).
pub fn sign(key: &Secret, id: &str, timestamp: i64, body: &[u8]) -> [(&'static str, String); 3] {
    let t = timestamp.to_string();
    let mac = hmac_sha256(
        key.expose(),
        &[id.as_bytes(), b".", t.as_bytes(), b".", body],
    );
    [
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", t),
        ("webhook-signature", format!("v1,{}", STANDARD.encode(mac))),
    ]
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::*;

    // The Standard Webhooks specification's test vector.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn check(keys: &[&str], signature: &str, body: &[u8], now: i64) -> Result<Verified, Refusal> {
        let standard = Standard {
            keys: keys.iter().map(|k| decode_secret(k).unwrap()).collect(),
            window: ReplayWindow::default(),
        };
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", HeaderValue::from_static(ID));
        headers.insert("webhook-timestamp", HeaderValue::from(TIMESTAMP));
        headers.insert(
            "webhook-signature",
            HeaderValue::from_str(signature).unwrap(),
        );
        standard.verify(&Inbound {
            headers: &headers,
            query: None,
            body,
            now,
        })
    }

    #[test]
    fn accepts_the_specifications_test_vector() {
        let Ok(Verified::Events(events)) = check(&[SECRET], SIGNATURE, BODY, TIMESTAMP) else {
            panic!("refused")
        };
        assert_eq!(events[0].id, ID);
    }

    #[test]
    fn any_listed_signature_under_any_key_counts() {
        let other = "whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA==";
        let listed = format!("v1,bm90LWEtc2lnbmF0dXJl {SIGNATURE}");
        assert!(check(&[other, SECRET], &listed, BODY, TIMESTAMP).is_ok());
        assert!(matches!(
            check(&[other], &listed, BODY, TIMESTAMP),
            Err(Refusal::BadSignature)
        ));
    }

    #[test]
    fn refuses_an_altered_body_and_a_stale_timestamp() {
        let altered = br#"{"test": 2432232315}"#;
        assert!(matches!(
            check(&[SECRET], SIGNATURE, altered, TIMESTAMP),
            Err(Refusal::BadSignature)
        ));
        assert!(matches!(
            check(&[SECRET], SIGNATURE, BODY, TIMESTAMP + 301),
            Err(Refusal::Stale {
                tolerance_secs: 300,
                ..
            })
        ));
        assert!(decode_secret("whsec_not base64!").is_err());
    }
}
