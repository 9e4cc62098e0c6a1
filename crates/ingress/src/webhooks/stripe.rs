//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, HMAC-SHA256 of `{t}.{raw body}`
//! under the endpoint's signing secret. During a secret roll Stripe signs with both the old and
//! the new secret, and we may hold both too: any `v1` matching any secret counts. Other schemes
//! (`v0`, test-mode extras) are ignored, as Stripe's own libraries do.

use super::shared::{ReplayWindow, Secret, any_ct_eq, hex, hmac_sha256, unhex};
use super::verifier::{Event, Inbound, Refusal, Verified, text_field};

/// A Stripe endpoint's verifier.
#[derive(Debug)]
pub struct Stripe {
    /// The endpoint's signing secrets (`whsec_…`, used as is), current and previous.
    pub secrets: Vec<Secret>,
    /// The timestamp tolerance.
    pub window: ReplayWindow,
}

const HEADER: &str = "stripe-signature";

impl Stripe {
    /// Checks signature and timestamp; the event's `id` becomes the message id.
    pub fn verify(&self, request: &Inbound<'_>) -> Result<Verified, Refusal> {
        let (timestamp, signatures) = parse(request.header(HEADER)?)?;
        let signed = [timestamp.as_bytes(), b".", request.body];
        let decoded: Vec<Vec<u8>> = signatures.iter().filter_map(|s| unhex(s)).collect();
        let matched = self.secrets.iter().fold(false, |found, secret| {
            let expected = hmac_sha256(secret.expose(), &signed);
            any_ct_eq(&expected, decoded.iter().map(Vec::as_slice)) | found
        });
        if !matched {
            return Err(Refusal::BadSignature);
        }
        // Checked after the signature: the timestamp is only meaningful once it is genuine.
        self.window.check_text(HEADER, timestamp, request.now)?;
        let body = request.json()?;
        let id = text_field(&body, "id")
            .ok_or_else(|| Refusal::BadBody("a Stripe event carries its `id`".into()))?;
        Ok(Verified::Events(vec![Event {
            id,
            event_type: text_field(&body, "type"),
            body,
        }]))
    }
}

/// `t=…` and every `v1=…` of the header.
fn parse(header: &str) -> Result<(&str, Vec<&str>), Refusal> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        match item.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", s)) => signatures.push(s),
            _ => {}
        }
    }
    match (timestamp, signatures.is_empty()) {
        (Some(t), false) => Ok((t, signatures)),
        _ => Err(Refusal::BadHeader(
            "`Stripe-Signature` needs `t=` and at least one `v1=`".into(),
        )),
    }
}

/// The header Stripe would send for `body` at `timestamp` (tests and the sandbox).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let mac = hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", body]);
    format!("t={t},v1={}", hex(&mac))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid","data":{}}"#;

    fn stripe(secrets: &[&str]) -> Stripe {
        Stripe {
            secrets: secrets.iter().map(|s| Secret::new(*s)).collect(),
            window: ReplayWindow::default(),
        }
    }

    fn check(v: &Stripe, header: &str, body: &[u8], now: i64) -> Result<Verified, Refusal> {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_str(header).unwrap());
        v.verify(&Inbound {
            headers: &headers,
            query: None,
            body,
            now,
        })
    }

    #[test]
    fn accepts_a_signed_event_and_takes_its_id() {
        let header = sign("whsec_a", 1_000, BODY);
        let Ok(Verified::Events(events)) = check(&stripe(&["whsec_a"]), &header, BODY, 1_010)
        else {
            panic!("refused")
        };
        assert_eq!(events[0].id, "evt_1");
        assert_eq!(events[0].event_type.as_deref(), Some("invoice.paid"));
    }

    #[test]
    fn any_v1_under_any_secret_counts() {
        let new = sign("whsec_new", 1_000, BODY);
        let old_sig = sign("whsec_old", 1_000, BODY)
            .split_once(",v1=")
            .unwrap()
            .1
            .to_owned();
        let both = format!("{new},v1={old_sig},v0=ignored");
        assert!(check(&stripe(&["whsec_other", "whsec_old"]), &both, BODY, 1_000).is_ok());
        assert!(check(&stripe(&["whsec_new"]), &both, BODY, 1_000).is_ok());
        assert!(matches!(
            check(&stripe(&["whsec_other"]), &both, BODY, 1_000),
            Err(Refusal::BadSignature)
        ));
    }

    #[test]
    fn refuses_an_altered_body_a_stale_timestamp_and_a_bad_header() {
        let header = sign("s", 1_000, BODY);
        let mut altered = BODY.to_vec();
        altered[10] ^= 1;
        let v = stripe(&["s"]);
        assert!(matches!(
            check(&v, &header, &altered, 1_000),
            Err(Refusal::BadSignature)
        ));
        assert!(matches!(
            check(&v, &header, BODY, 1_301),
            Err(Refusal::Stale { .. })
        ));
        assert!(matches!(
            check(&v, "v1=abc", BODY, 1_000),
            Err(Refusal::BadHeader(_))
        ));
        assert!(matches!(
            check(&v, "t=1000,v1=zz", BODY, 1_000),
            Err(Refusal::BadSignature)
        ));
    }
}
