//! PayPal's signing certificates: fetched from an allow-listed origin ([`super::origin`]),
//! checked (RSA key, PayPal subject, validity period) and cached by URL, so a burst of events
//! costs one fetch, not one per event.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{StatusCode, Url};
use x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::origin::{self, Origin};
use crate::webhooks::verifier::Refusal;

/// How many certificates are kept: PayPal signs with one at a time (two while it rolls over);
/// the bound keeps made-up URLs on an allowed host from growing the cache.
pub const CACHE_ENTRIES: usize = 16;
/// How long a fetched certificate is trusted before it is fetched again.
pub const CACHE_TTL_SECS: i64 = 24 * 60 * 60;
/// A certificate chain in PEM is a few KB; anything far larger is not one.
const MAX_CERT_BYTES: usize = 64 * 1024;

/// Which certificate subjects may sign PayPal webhooks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subjects {
    /// PayPal's own rule (its Java SDK's `SSLUtil.validateCertificateChain`): a common name
    /// starting `messageverificationcerts` and ending `.paypal.com` — live and sandbox alike.
    PayPal,
    /// Exactly these common names (`cert_subjects`), for a certificate of one's own.
    Exactly(Vec<String>),
}

impl Subjects {
    fn allow(&self, common_name: &str) -> bool {
        let name = common_name.to_ascii_lowercase();
        match self {
            Subjects::PayPal => {
                name.starts_with("messageverificationcerts") && name.ends_with(".paypal.com")
            }
            Subjects::Exactly(names) => names.iter().any(|n| n.eq_ignore_ascii_case(&name)),
        }
    }
}

/// A usable certificate: its RSA key and validity period.
#[derive(Clone, Debug)]
struct Cert {
    /// The RSAPublicKey DER (the SPKI's bit string), as ring takes it.
    key: Arc<[u8]>,
    not_before: i64,
    not_after: i64,
    fetched_at: i64,
}

/// Fetches, checks and caches certificates for one PayPal source.
pub struct Certificates {
    origins: Vec<Origin>,
    subjects: Subjects,
    http: reqwest::Client,
    cache: Mutex<HashMap<String, Cert>>,
}

// By hand: the cached keys are public but long; a logged config shows how many there are.
impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.cache.lock().map_or(0, |cache| cache.len());
        f.debug_struct("Certificates")
            .field("origins", &self.origins)
            .field("subjects", &self.subjects)
            .field("cached", &cached)
            .finish_non_exhaustive()
    }
}

impl Certificates {
    /// Certificates from `origins` only (PayPal's: [`origin::paypal_origins`]). The client
    /// follows no redirect: an allowed host must not hand the fetch to one that is not.
    pub fn new(
        origins: Vec<Origin>,
        subjects: Subjects,
        timeout: Duration,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Certificates {
            origins,
            subjects,
            http,
            cache: Mutex::default(),
        })
    }

    /// The RSA key of the certificate at `url`, valid at `now` (Unix seconds).
    pub async fn key(&self, url: &str, now: i64) -> Result<Arc<[u8]>, Refusal> {
        let url = origin::allowed(url, &self.origins).ok_or_else(|| {
            Refusal::BadHeader(
                "`PAYPAL-CERT-URL` is not https on an allowed PayPal host (cert_hosts); \
                 refused without fetching it"
                    .into(),
            )
        })?;
        let cert = match self.cached(url.as_str(), now) {
            Some(cert) => cert,
            None => {
                let cert = self.fetch(&url, now).await?;
                self.remember(url.as_str(), cert.clone());
                cert
            }
        };
        check_validity(cert.not_before, cert.not_after, now).map_err(untrusted)?;
        Ok(cert.key)
    }

    fn cached(&self, url: &str, now: i64) -> Option<Cert> {
        let cache = self.cache.lock().expect("no panic while holding the cache");
        let cert = cache.get(url)?;
        (now.saturating_sub(cert.fetched_at) < CACHE_TTL_SECS).then(|| cert.clone())
    }

    /// Keeps `cert`; when full, the longest-held entry makes room.
    fn remember(&self, url: &str, cert: Cert) {
        let mut cache = self.cache.lock().expect("no panic while holding the cache");
        if !cache.contains_key(url) && cache.len() >= CACHE_ENTRIES {
            let oldest = cache
                .iter()
                .min_by_key(|(_, held)| held.fetched_at)
                .map(|(url, _)| url.clone());
            cache.remove(&oldest.expect("a full cache has an oldest entry"));
        }
        cache.insert(url.to_owned(), cert);
    }

    async fn fetch(&self, url: &Url, now: i64) -> Result<Cert, Refusal> {
        let mut answer = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| unavailable(&format!("cannot fetch it: {}", e.without_url())))?;
        let status = answer.status();
        if status.is_server_error()
            || matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT
            )
        {
            return Err(unavailable(&format!("its host answered {status}")));
        }
        if !status.is_success() {
            return Err(untrusted(format!("its host answered {status}")));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = answer
            .chunk()
            .await
            .map_err(|e| unavailable(&format!("cannot read it: {}", e.without_url())))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_CERT_BYTES {
                return Err(untrusted(format!(
                    "it is larger than {MAX_CERT_BYTES} bytes"
                )));
            }
        }
        let (key, not_before, not_after) = parse(&bytes, &self.subjects).map_err(untrusted)?;
        Ok(Cert {
            key: key.into(),
            not_before,
            not_after,
            fetched_at: now,
        })
    }
}

/// The leaf certificate of a PEM chain (or one DER certificate): its RSAPublicKey DER and
/// validity period, once its key is RSA and its subject one of `subjects`.
fn parse(bytes: &[u8], subjects: &Subjects) -> Result<(Vec<u8>, i64, i64), String> {
    let pem = x509_parser::pem::parse_x509_pem(bytes)
        .ok()
        .map(|(_, pem)| pem);
    let der = pem.as_ref().map_or(bytes, |pem| &pem.contents[..]);
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("it is not an X.509 certificate ({e})"))?;
    let spki = cert.public_key();
    if spki.algorithm.algorithm != OID_PKCS1_RSAENCRYPTION
        || !matches!(spki.parsed(), Ok(PublicKey::RSA(_)))
    {
        return Err("its key is not RSA, and PayPal signs SHA256withRSA".into());
    }
    let names: Vec<&str> = cert
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .collect();
    if !names.iter().any(|name| subjects.allow(name)) {
        return Err(format!(
            "its subject {names:?} is not a PayPal message verification certificate \
             (cert_subjects)"
        ));
    }
    let validity = cert.validity();
    Ok((
        spki.subject_public_key.data.to_vec(),
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    ))
}

/// A certificate is used only inside its validity period.
pub fn check_validity(not_before: i64, not_after: i64, now: i64) -> Result<(), String> {
    if now < not_before {
        return Err(format!("it is not valid before Unix time {not_before}"));
    }
    if now > not_after {
        return Err(format!("it expired at Unix time {not_after}"));
    }
    Ok(())
}

fn untrusted(reason: String) -> Refusal {
    Refusal::BadHeader(format!(
        "the certificate at `PAYPAL-CERT-URL` cannot verify PayPal webhooks: {reason}"
    ))
}

fn unavailable(what: &str) -> Refusal {
    Refusal::Unavailable(format!(
        "PayPal's signing certificate is out of reach: {what}; the webhook cannot be verified \
         now, PayPal will retry"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_is_inclusive_at_both_ends() {
        assert!(check_validity(100, 200, 100).is_ok());
        assert!(check_validity(100, 200, 200).is_ok());
        assert!(check_validity(100, 200, 99).unwrap_err().contains("before"));
        assert!(
            check_validity(100, 200, 201)
                .unwrap_err()
                .contains("expired")
        );
    }

    #[test]
    fn paypal_subjects_follow_paypals_sdk_rule() {
        let paypal = Subjects::PayPal;
        assert!(paypal.allow("messageverificationcerts.paypal.com"));
        assert!(paypal.allow("messageverificationcerts.sandbox.paypal.com"));
        assert!(paypal.allow("MessageVerificationCerts.PayPal.com"));
        assert!(!paypal.allow("messageverificationcerts.paypal.com.evil.example"));
        assert!(!paypal.allow("api.paypal.com"));
        let own = Subjects::Exactly(vec!["signer.example".into()]);
        assert!(own.allow("signer.example"));
        assert!(!own.allow("messageverificationcerts.paypal.com"));
    }

    #[test]
    fn not_a_certificate_is_refused_by_parse() {
        assert!(
            parse(b"hello", &Subjects::PayPal)
                .unwrap_err()
                .contains("X.509")
        );
        let pem = b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
        assert!(parse(pem, &Subjects::PayPal).unwrap_err().contains("X.509"));
    }
}
