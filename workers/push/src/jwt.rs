//! Compact JWS (JWT) signing with ring: RS256 for Google's OAuth JWT bearer grant, ES256 for
//! APNs provider tokens. Only what those two need; nothing here parses or verifies tokens.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use serde_json::Value;

/// A private key that cannot be used. The message names the key's role, never its bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct KeyError {
    /// Which key (e.g. "the FCM service account's private_key").
    pub what: String,
    /// Why it was refused and what is expected instead.
    pub reason: String,
}

/// The DER bytes of a PEM `PRIVATE KEY` (PKCS#8) block: the form of both a service-account
/// `private_key` and an APNs `.p8` file.
fn pkcs8_der(pem: &str, what: &str) -> Result<Vec<u8>, KeyError> {
    let error = |reason: &str| KeyError {
        what: what.to_owned(),
        reason: reason.to_owned(),
    };
    let body = pem
        .split("-----BEGIN PRIVATE KEY-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END PRIVATE KEY-----").next())
        .ok_or_else(|| error("not a PEM \"PRIVATE KEY\" (PKCS#8) block"))?;
    let base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(base64)
        .map_err(|_| error("the PEM block is not valid base64"))
}

/// Signs JWTs with an RSA key (RS256).
pub struct Rs256 {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl Rs256 {
    /// Reads a PKCS#8 PEM RSA key.
    pub fn from_pem(pem: &str, what: &str) -> Result<Self, KeyError> {
        let der = pkcs8_der(pem, what)?;
        let key = RsaKeyPair::from_pkcs8(&der).map_err(|e| KeyError {
            what: what.to_owned(),
            reason: format!("not a usable RSA PKCS#8 key ({e})"),
        })?;
        Ok(Self {
            key,
            rng: SystemRandom::new(),
        })
    }

    /// `header.claims.signature`.
    pub fn sign(&self, header: &Value, claims: &Value) -> Result<String, KeyError> {
        let input = signing_input(header, claims);
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| KeyError {
                what: "RS256".into(),
                reason: "signing failed".into(),
            })?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// Signs JWTs with a P-256 key (ES256, the fixed `r || s` signature form JOSE requires).
pub struct Es256 {
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Es256 {
    /// Reads a PKCS#8 PEM P-256 key (an APNs `.p8` file).
    pub fn from_pem(pem: &str, what: &str) -> Result<Self, KeyError> {
        let der = pkcs8_der(pem, what)?;
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng).map_err(
            |e| KeyError {
                what: what.to_owned(),
                reason: format!("not a usable P-256 PKCS#8 key ({e})"),
            },
        )?;
        Ok(Self { key, rng })
    }

    /// `header.claims.signature`.
    pub fn sign(&self, header: &Value, claims: &Value) -> Result<String, KeyError> {
        let input = signing_input(header, claims);
        let signature = self
            .key
            .sign(&self.rng, input.as_bytes())
            .map_err(|_| KeyError {
                what: "ES256".into(),
                reason: "signing failed".into(),
            })?;
        Ok(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const P8: &str = include_str!("../../../crates/sandbox/testdata/apns-sandbox.p8");

    #[test]
    fn es256_tokens_have_three_parts_and_a_64_byte_signature() {
        let signer = Es256::from_pem(P8, "test key").unwrap();
        let token = signer
            .sign(&json!({"alg": "ES256", "kid": "K"}), &json!({"iss": "T"}))
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(), 64);
    }

    #[test]
    fn a_key_that_is_not_pkcs8_is_refused_by_role() {
        let err = Es256::from_pem("-----BEGIN EC PRIVATE KEY-----\nAAAA\n", "the APNs key")
            .err()
            .unwrap();
        assert_eq!(err.what, "the APNs key");
        assert!(Rs256::from_pem(P8, "rsa").is_err(), "an EC key is not RSA");
    }
}
