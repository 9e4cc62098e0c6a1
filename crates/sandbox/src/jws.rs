//! JWT checks for the emulated Google and Apple endpoints: structure, algorithm and
//! signature against the configured key's public half. Claims are the caller's business.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey, VerificationAlgorithm,
};
use serde_json::Value;

/// A public key JWTs are checked against.
#[derive(Clone, Debug)]
pub(crate) struct Verifier {
    alg: &'static str,
    algorithm: &'static dyn VerificationAlgorithm,
    public_key: Vec<u8>,
}

/// A JWT whose signature checked out.
#[derive(Debug)]
pub(crate) struct Verified {
    pub(crate) header: Value,
    pub(crate) claims: Value,
}

impl Verifier {
    /// RS256 against the public half of a PKCS#8 PEM RSA key.
    pub(crate) fn rs256(private_pem: &str) -> Result<Self, String> {
        let key = RsaKeyPair::from_pkcs8(&der(private_pem)?).map_err(|e| e.to_string())?;
        Ok(Self {
            alg: "RS256",
            algorithm: &RSA_PKCS1_2048_8192_SHA256,
            public_key: key.public().as_ref().to_vec(),
        })
    }

    /// ES256 against the public half of a PKCS#8 PEM P-256 key.
    pub(crate) fn es256(private_pem: &str) -> Result<Self, String> {
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &der(private_pem)?,
            &SystemRandom::new(),
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            alg: "ES256",
            algorithm: &ECDSA_P256_SHA256_FIXED,
            public_key: key.public_key().as_ref().to_vec(),
        })
    }

    /// The header and claims of `jwt`, if it is three base64url parts of JSON, names this
    /// verifier's algorithm and is signed with its key.
    pub(crate) fn verify(&self, jwt: &str) -> Result<Verified, &'static str> {
        let mut parts = jwt.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not a JWT (three dot-separated parts)");
        };
        let json = |part: &str| -> Result<Value, &'static str> {
            let bytes = URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| "a part is not base64url")?;
            serde_json::from_slice(&bytes).map_err(|_| "a part is not JSON")
        };
        let (header_json, claims_json) = (json(header)?, json(claims)?);
        if header_json["alg"] != self.alg {
            return Err("wrong alg");
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| "the signature is not base64url")?;
        let signed = &jwt[..header.len() + 1 + claims.len()];
        UnparsedPublicKey::new(self.algorithm, &self.public_key)
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| "bad signature")?;
        Ok(Verified {
            header: header_json,
            claims: claims_json,
        })
    }
}

/// The DER bytes of a PEM `PRIVATE KEY` block.
pub(crate) fn der(pem: &str) -> Result<Vec<u8>, String> {
    let body = pem
        .split("-----BEGIN PRIVATE KEY-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END PRIVATE KEY-----").next())
        .ok_or("not a PEM PRIVATE KEY block")?;
    let base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(base64).map_err(|e| e.to_string())
}
