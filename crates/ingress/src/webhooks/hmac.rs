//! Generic HMAC in GitHub's style: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the raw
//! body. The header names are configurable per source for senders that copied the scheme under
//! other names. The scheme signs no timestamp, so there is no replay window; the delivery id
//! header (`X-GitHub-Delivery`) is the message id, so a replay is a duplicate. Without one, the
//! id is a hash of the body.

use super::shared::{Secret, any_ct_eq, hmac_sha256, sha256_hex, unhex};
use super::verifier::{Event, Inbound, Refusal, Verified, text_field};

/// A GitHub-style source's verifier.
#[derive(Debug)]
pub struct HubSignature {
    /// The shared secrets (current and previous).
    pub secrets: Vec<Secret>,
    /// Header carrying `sha256=<hex>` (lower case), default `x-hub-signature-256`.
    pub signature_header: &'static str,
    /// Header carrying the delivery id, default `x-github-delivery`.
    pub id_header: &'static str,
    /// Header carrying the event type, default `x-github-event`.
    pub event_header: &'static str,
}

impl HubSignature {
    /// Checks the body's HMAC.
    pub fn verify(&self, request: &Inbound<'_>) -> Result<Verified, Refusal> {
        let name = self.signature_header;
        let signature = request
            .header(name)?
            .strip_prefix("sha256=")
            .and_then(unhex)
            .ok_or_else(|| Refusal::BadHeader(format!("`{name}` must be `sha256=<hex>`")))?;
        let macs: Vec<[u8; 32]> = self
            .secrets
            .iter()
            .map(|s| hmac_sha256(s.expose(), &[request.body]))
            .collect();
        if !any_ct_eq(&signature, macs.iter().map(|m| &m[..])) {
            return Err(Refusal::BadSignature);
        }
        let body = request.json()?;
        let header = |name| request.header(name).ok().map(str::to_owned);
        Ok(Verified::Events(vec![Event {
            id: header(self.id_header)
                .unwrap_or_else(|| format!("hmac-{}", &sha256_hex(request.body)[..32])),
            event_type: header(self.event_header).or_else(|| text_field(&body, "type")),
            body,
        }]))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::*;
    use crate::webhooks::shared::hex;

    fn hub(secret: &str) -> HubSignature {
        HubSignature {
            secrets: vec![Secret::new(secret)],
            signature_header: "x-hub-signature-256",
            id_header: "x-github-delivery",
            event_header: "x-github-event",
        }
    }

    fn headers(signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-hub-signature-256",
            HeaderValue::from_str(signature).unwrap(),
        );
        headers.insert("x-github-delivery", HeaderValue::from_static("d-1"));
        headers
    }

    #[test]
    fn matches_githubs_documented_example() {
        // "Validating webhook deliveries", GitHub Docs: secret and payload as below.
        let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let mac = hmac_sha256(b"It's a Secret to Everybody", &[b"Hello, World!"]);
        assert_eq!(format!("sha256={}", hex(&mac)), signature);
        // That payload is not JSON: verified, then refused as malformed, never as forged.
        let refusal = hub("It's a Secret to Everybody")
            .verify(&Inbound {
                headers: &headers(signature),
                query: None,
                body: b"Hello, World!",
                now: 0,
            })
            .unwrap_err();
        assert!(matches!(refusal, Refusal::BadBody(_)), "{refusal}");
    }

    #[test]
    fn accepts_json_takes_the_delivery_id_and_refuses_an_altered_body() {
        let body = br#"{"action":"opened"}"#;
        let signature = format!("sha256={}", hex(&hmac_sha256(b"s", &[body])));
        let request = |body: &'static [u8]| {
            hub("s").verify(&Inbound {
                headers: &headers(&signature),
                query: None,
                body,
                now: 0,
            })
        };
        let Ok(Verified::Events(events)) = request(body) else {
            panic!("refused")
        };
        assert_eq!(events[0].id, "d-1");
        assert!(matches!(
            request(br#"{"action":"opened "}"#),
            Err(Refusal::BadSignature)
        ));
    }
}
