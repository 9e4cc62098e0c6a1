//! PayPal's certificate mode end to end: a source parsed from the webhooks file, requests
//! signed with the sandbox's PayPal key (`crates/sandbox/fixtures`), the certificate served by
//! a local HTTP server that counts what it is asked.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use switchyard_ingress::webhooks::config::Sources;
use switchyard_ingress::webhooks::paypal_cert::{certs, signed_message};
use switchyard_ingress::webhooks::verifier::{Inbound, Refusal, Verified};

/// 2027-01-15T08:00:00Z, inside every fixture certificate's validity.
const NOW: i64 = 1_800_000_000;
const WEBHOOK_ID: &str = "WH-TEST";
const BODY: &[u8] = br#"{"id":"WH-EVT-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"42311647XV020574X"}}"#;
const CERT_PATH: &str = "/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77";

fn fixture(path: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("test fixture {}: {e}", path.display()))
}

fn sandbox_cert() -> Vec<u8> {
    fixture("../sandbox/fixtures/paypal-webhook-signing.crt.pem")
}

/// A stand-in for PayPal's certificate host: answers every request with `status` and `body`
/// and counts the requests.
struct CertHost {
    origin: String,
    hits: Arc<AtomicUsize>,
}

impl CertHost {
    async fn start(status: StatusCode, body: Vec<u8>) -> CertHost {
        Self::answering(status, HeaderMap::new(), body).await
    }

    async fn answering(status: StatusCode, headers: HeaderMap, body: Vec<u8>) -> CertHost {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let app = Router::new().fallback(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let answer = (status, headers.clone(), body.clone());
            async move { answer }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        CertHost { origin, hits }
    }

    fn url(&self) -> String {
        format!("{}{CERT_PATH}", self.origin)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// The webhooks file's PayPal source in certificate mode for `webhook_id`, with `extra` lines.
fn source_for(webhook_id: &str, extra: &str) -> Sources {
    Sources::parse(&format!(
        "[[sources]]\nname = \"paypal\"\nkind = \"paypal\"\nverify = \"certificate\"\n\
         webhook_id = \"{webhook_id}\"\n{extra}"
    ))
    .expect("a valid source")
}

fn sources(extra: &str) -> Sources {
    source_for(WEBHOOK_ID, extra)
}

fn trusting(host: &CertHost) -> Sources {
    sources(&format!("cert_hosts = [\"{}\"]\n", host.origin))
}

/// The headers PayPal sends for `body` at `at`, signed by the sandbox's key.
fn signed(body: &[u8], at: i64, cert_url: &str) -> HeaderMap {
    let id = uuid::Uuid::new_v4().to_string();
    let time = DateTime::from_timestamp(at, 0)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let signature = sign(signed_message(&id, &time, WEBHOOK_ID, body).as_bytes());
    headers(&[
        ("paypal-auth-algo", "SHA256withRSA"),
        ("paypal-cert-url", cert_url),
        ("paypal-transmission-id", &id),
        ("paypal-transmission-sig", &STANDARD.encode(signature)),
        ("paypal-transmission-time", &time),
    ])
}

fn sign(message: &[u8]) -> Vec<u8> {
    let pem = fixture("../sandbox/fixtures/paypal-webhook-signing.key.pem");
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).expect("a PEM key");
    let key = RsaKeyPair::from_pkcs8(&pem.contents).expect("a PKCS#8 RSA key");
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        message,
        &mut signature,
    )
    .unwrap();
    signature
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn with(mut headers: HeaderMap, name: &'static str, value: &str) -> HeaderMap {
    headers.insert(name, HeaderValue::from_str(value).unwrap());
    headers
}

async fn verify(
    sources: &Sources,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Verified, Refusal> {
    let source = sources.find("paypal", None).expect("the paypal source");
    source
        .verifier
        .verify(&Inbound {
            headers,
            query: None,
            body,
            now,
        })
        .await
}

/// A freshly signed `BODY` for the certificate at `url`, sent and checked at `now`.
async fn send(sources: &Sources, url: &str, now: i64) -> Result<Verified, Refusal> {
    verify(sources, &signed(BODY, now, url), BODY, now).await
}

fn is_refused(result: &Result<Verified, Refusal>) -> bool {
    matches!(result, Err(r) if r.result() == "bad_signature" || r.result() == "stale")
}

#[tokio::test]
async fn a_genuine_event_is_accepted_and_its_id_taken() {
    let host = CertHost::start(StatusCode::OK, sandbox_cert()).await;
    let sources = trusting(&host);
    let verdict = send(&sources, &host.url(), NOW).await;
    let Ok(Verified::Events(events)) = verdict else {
        panic!("refused: {verdict:?}")
    };
    assert_eq!(events[0].id, "WH-EVT-1");
    assert_eq!(
        events[0].event_type.as_deref(),
        Some("PAYMENT.CAPTURE.COMPLETED")
    );
    let source = sources.find("paypal", None).unwrap();
    assert_eq!(source.verifier.kind(), "paypal");
    assert_eq!(source.verifier.message_type(), "paypal.event");
}

#[tokio::test]
async fn one_changed_body_byte_is_refused() {
    let host = CertHost::start(StatusCode::OK, sandbox_cert()).await;
    let sources = trusting(&host);
    let headers = signed(BODY, NOW, &host.url());
    let mut altered = BODY.to_vec();
    altered[10] ^= 1;
    let verdict = verify(&sources, &headers, &altered, NOW).await;
    assert!(matches!(verdict, Err(Refusal::BadSignature)), "{verdict:?}");
}

#[tokio::test]
async fn a_signature_that_is_not_the_keys_is_refused() {
    let host = CertHost::start(StatusCode::OK, sandbox_cert()).await;
    let sources = trusting(&host);
    let headers = signed(BODY, NOW, &host.url());
    let mut signature = STANDARD
        .decode(headers["paypal-transmission-sig"].as_bytes())
        .unwrap();
    signature[17] ^= 0x40;
    let flipped = with(
        headers.clone(),
        "paypal-transmission-sig",
        &STANDARD.encode(signature),
    );
    let verdict = verify(&sources, &flipped, BODY, NOW).await;
    assert!(matches!(verdict, Err(Refusal::BadSignature)), "{verdict:?}");
    // Signed for another listener: the webhook id is ours, not the sender's choice.
    let other = source_for("WH-OTHER", &format!("cert_hosts = [\"{}\"]\n", host.origin));
    let verdict = verify(&other, &headers, BODY, NOW).await;
    assert!(matches!(verdict, Err(Refusal::BadSignature)), "{verdict:?}");
}

#[tokio::test]
async fn a_stale_transmission_is_refused_before_any_fetch() {
    let host = CertHost::start(StatusCode::OK, sandbox_cert()).await;
    let sources = trusting(&host);
    for sent in [NOW - 301, NOW + 301] {
        let verdict = verify(&sources, &signed(BODY, sent, &host.url()), BODY, NOW).await;
        assert!(matches!(verdict, Err(Refusal::Stale { .. })), "{verdict:?}");
    }
    assert_eq!(host.hits(), 0);
    let edge = verify(&sources, &signed(BODY, NOW - 300, &host.url()), BODY, NOW).await;
    assert!(edge.is_ok(), "{edge:?}");
}

#[tokio::test]
async fn another_algorithm_is_refused() {
    let host = CertHost::start(StatusCode::OK, sandbox_cert()).await;
    let sources = trusting(&host);
    for algo in ["SHA1withRSA", "SHA256withECDSA", "none", ""] {
        let headers = with(signed(BODY, NOW, &host.url()), "paypal-auth-algo", algo);
        let verdict = verify(&sources, &headers, BODY, NOW).await;
        assert!(matches!(&verdict, Err(Refusal::BadHeader(m)) if m.contains("SHA256withRSA")));
        assert!(is_refused(&verdict));
    }
    assert_eq!(host.hits(), 0);
}

#[tokio::test]
async fn a_cert_url_off_the_allow_list_is_refused_without_a_request() {
    let host = CertHost::start(StatusCode::OK, sandbox_cert()).await;
    // PayPal's hosts only (no cert_hosts): our local host is not one of them.
    let paypal_only = sources("");
    let on_other_port = sources("cert_hosts = [\"http://127.0.0.1:9\"]\n");
    let https_only = sources(&format!(
        "cert_hosts = [\"{}\"]\n",
        host.origin.replace("http://", "https://")
    ));
    for sources in [&paypal_only, &on_other_port, &https_only] {
        let verdict = send(sources, &host.url(), NOW).await;
        assert!(
            matches!(&verdict, Err(Refusal::BadHeader(m)) if m.contains("allowed")),
            "{verdict:?}"
        );
        assert!(is_refused(&verdict));
    }
    let look_alike = format!("https://api.paypal.com.evil.example{CERT_PATH}");
    let verdict = send(&paypal_only, &look_alike, NOW).await;
    assert!(is_refused(&verdict), "{verdict:?}");
    assert_eq!(host.hits(), 0);
}

#[tokio::test]
async fn an_unreachable_or_failing_cert_host_is_unavailable_never_genuine() {
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let down = sources(&format!("cert_hosts = [\"{closed}\"]\n"));
    let url = format!("{closed}{CERT_PATH}");
    let verdict = send(&down, &url, NOW).await;
    assert!(
        matches!(verdict, Err(Refusal::Unavailable(_))),
        "{verdict:?}"
    );
    for status in [
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ] {
        let failing = CertHost::start(status, Vec::new()).await;
        let verdict = send(&trusting(&failing), &failing.url(), NOW).await;
        assert!(
            matches!(&verdict, Err(r) if r.result() == "unavailable"),
            "{verdict:?}"
        );
    }
    // A certificate URL the host does not know is no certificate: refused, not retried.
    let missing = CertHost::start(StatusCode::NOT_FOUND, Vec::new()).await;
    let verdict = send(&trusting(&missing), &missing.url(), NOW).await;
    assert!(is_refused(&verdict), "{verdict:?}");
}

#[tokio::test]
async fn a_redirect_off_the_allow_list_is_not_followed() {
    let elsewhere = CertHost::start(StatusCode::OK, sandbox_cert()).await;
    let location = headers(&[("location", &elsewhere.url())]);
    let redirector = CertHost::answering(StatusCode::FOUND, location, Vec::new()).await;
    let verdict = send(&trusting(&redirector), &redirector.url(), NOW).await;
    assert!(is_refused(&verdict), "{verdict:?}");
    assert_eq!((redirector.hits(), elsewhere.hits()), (1, 0));
}

#[tokio::test]
async fn a_failed_fetch_is_not_cached() {
    let failing = CertHost::start(StatusCode::SERVICE_UNAVAILABLE, Vec::new()).await;
    let sources = trusting(&failing);
    for _ in 0..2 {
        let verdict = send(&sources, &failing.url(), NOW).await;
        assert!(matches!(verdict, Err(Refusal::Unavailable(_))));
    }
    assert_eq!(failing.hits(), 2);
}

#[tokio::test]
async fn the_certificate_is_fetched_once_per_url_and_day() {
    let host = CertHost::start(StatusCode::OK, sandbox_cert()).await;
    let sources = trusting(&host);
    for now in [NOW, NOW + 60] {
        let verdict = send(&sources, &host.url(), now).await;
        assert!(verdict.is_ok(), "{verdict:?}");
    }
    assert_eq!(host.hits(), 1);
    let a_day_later = NOW + certs::CACHE_TTL_SECS;
    assert!(send(&sources, &host.url(), a_day_later).await.is_ok());
    assert_eq!(host.hits(), 2);
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let host = CertHost::start(StatusCode::OK, sandbox_cert()).await;
    let sources = trusting(&host);
    let url = |n: usize| format!("{}/v1/notifications/certs/CERT-{n}", host.origin);
    for n in 0..=certs::CACHE_ENTRIES {
        let now = NOW + n as i64;
        assert!(send(&sources, &url(n), now).await.is_ok());
    }
    assert_eq!(host.hits(), certs::CACHE_ENTRIES + 1);
    let now = NOW + 100;
    // The newest is still held; the first made room for it.
    assert!(
        send(&sources, &url(certs::CACHE_ENTRIES), now)
            .await
            .is_ok()
    );
    assert_eq!(host.hits(), certs::CACHE_ENTRIES + 1);
    assert!(send(&sources, &url(0), now).await.is_ok());
    assert_eq!(host.hits(), certs::CACHE_ENTRIES + 2);
}

#[tokio::test]
async fn a_certificate_outside_its_validity_is_refused() {
    let host = CertHost::start(StatusCode::OK, sandbox_cert()).await;
    let sources = trusting(&host);
    // The fixture is valid from 2026-11-29 to 2126-11-05.
    let expired = 5_000_000_000; // 2128
    let verdict = send(&sources, &host.url(), expired).await;
    assert!(
        matches!(&verdict, Err(Refusal::BadHeader(m)) if m.contains("expired")),
        "{verdict:?}"
    );
    let early = 1_700_000_000; // 2023
    let verdict = send(&sources, &host.url(), early).await;
    assert!(matches!(&verdict, Err(Refusal::BadHeader(m)) if m.contains("not valid before")));
    // Still genuine once in its period, from the same cached certificate.
    assert!(send(&sources, &host.url(), NOW).await.is_ok());
    assert_eq!(host.hits(), 1);
}

#[tokio::test]
async fn only_rsa_keys_and_paypal_subjects_are_trusted() {
    let ec = CertHost::start(StatusCode::OK, fixture("tests/fixtures/ec-p256.crt.pem")).await;
    let verdict = send(&trusting(&ec), &ec.url(), NOW).await;
    assert!(
        matches!(&verdict, Err(Refusal::BadHeader(m)) if m.contains("RSA")),
        "{verdict:?}"
    );
    let garbage = CertHost::start(StatusCode::OK, b"<html>hello</html>".to_vec()).await;
    let verdict = send(&trusting(&garbage), &garbage.url(), NOW).await;
    assert!(is_refused(&verdict), "{verdict:?}");
    // The right key in a certificate that is not PayPal's: refused unless configured.
    let other = fixture("tests/fixtures/other-subject.crt.pem");
    let host = CertHost::start(StatusCode::OK, other).await;
    let verdict = send(&trusting(&host), &host.url(), NOW).await;
    assert!(
        matches!(&verdict, Err(Refusal::BadHeader(m)) if m.contains("subject")),
        "{verdict:?}"
    );
    let own = sources(&format!(
        "cert_hosts = [\"{}\"]\ncert_subjects = [\"signer.example\"]\n",
        host.origin
    ));
    assert!(send(&own, &host.url(), NOW).await.is_ok());
}

/// Independent of our own signing and CRC code: a signature made outside Rust (`openssl dgst
/// -sha256 -sign` over the message with Python's `zlib.crc32` of `BODY`). Redo it if the
/// sandbox's key is regenerated.
#[tokio::test]
async fn a_signature_made_by_openssl_verifies() {
    const BY_OPENSSL: &str = "eJdDWIRQEvPycMH99r3vYOOkJPco0fG0J8DrublCnor3WQLQYuXglfF90ZfqGpP39ogs0Y8dFRjNOmtHjjpVZsh32y2HtCNCpF6TSoIudjFWf1OsXqla6sVe/cYKNrvjrZV6AK5N4xLMCB7wK1Xx/tlpnbhO1OUGzZoL8u46pF1C3K+eQcZde8IzQxPoqs3TE9PStqCikUov2nOM+zPwCvAMlIDd4Bmm9ArhMTY1kBhCdsVobZkR6IayKsi9ey27ECYva8usiyHvFH/NUP8F+FjnOQcvzCIHEpp3+CyLyGLoxOuAshrCUnW0Fa7Lq1JB87MYVh4E7TlwmpFjuO0M7Q==";
    let id = "69cd13f0-d67a-11e5-baa3-778b53f4ae55";
    let time = "2027-01-15T08:00:00Z"; // NOW
    assert_eq!(
        signed_message(id, time, WEBHOOK_ID, BODY),
        format!("{id}|{time}|{WEBHOOK_ID}|1666897561")
    );
    let host = CertHost::start(StatusCode::OK, sandbox_cert()).await;
    let headers = headers(&[
        ("paypal-auth-algo", "SHA256withRSA"),
        ("paypal-cert-url", &host.url()),
        ("paypal-transmission-id", id),
        ("paypal-transmission-sig", BY_OPENSSL),
        ("paypal-transmission-time", time),
    ]);
    let verdict = verify(&trusting(&host), &headers, BODY, NOW).await;
    assert!(matches!(verdict, Ok(Verified::Events(_))), "{verdict:?}");
}
