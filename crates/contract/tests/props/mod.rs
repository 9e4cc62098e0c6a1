//! The properties both the fuzz targets (`fuzz/fuzz_targets/`) and the replay suite
//! (`tests/fuzz_replay.rs`) check, kept in one place so CI asserts exactly what fuzzing asserted.
//!
//! Each function takes the raw bytes a fuzz target is given and panics when a property breaks.
//! The byte formats are plain text so the corpus files can be read and written by hand:
//! - envelope: the AMQP body, as is;
//! - Twilio: `token \n url \n X-Twilio-Signature \n form body`;
//! - catalogue: `message type \n JSON payload`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::DateTime;
use serde_json::{Value, json};
use switchyard_contract::catalogue::{self, PayloadError};
use switchyard_contract::envelope::MAX_ID_LEN;
use switchyard_contract::signature::twilio;
use switchyard_contract::{Envelope, FieldError};

/// The fields [`Envelope::check`] may name.
const ENVELOPE_POINTERS: &[&str] = &[
    "/id",
    "/type",
    "/tenant",
    "/occurred_at",
    "/correlation_id",
    "/causation_id",
    "/idempotency_key",
];

/// Longest AMQP short string: the limit of `message_id` and of a routing key.
const AMQP_SHORT_STR: usize = 255;

/// What the envelope layer made of a body.
#[derive(Debug)]
pub enum Decoded {
    /// Not an envelope at all (serde refused it): the runtime parks it as `decode_failed`.
    NotAnEnvelope,
    /// An envelope whose fields `check()` refused, with the fields it named.
    Refused(Envelope, Vec<FieldError>),
    /// An envelope the ingress would publish and the runtime would hand to a worker.
    Accepted(Envelope),
}

/// Decodes `body` as the runtime does (`serde_json::from_slice::<Envelope>`, then `check()`) and
/// checks what the rest of the system relies on.
pub fn envelope(body: &[u8]) -> Decoded {
    let Ok(envelope) = serde_json::from_slice::<Envelope>(body) else {
        return Decoded::NotAnEnvelope;
    };

    // What the ingress publishes (`serde_json::to_vec`) decodes to the same envelope, and
    // encoding is stable: a retried or replayed copy is byte-for-byte the first one.
    let wire = serde_json::to_vec(&envelope).expect("an envelope always serialises");
    let again: Envelope = serde_json::from_slice(&wire)
        .unwrap_or_else(|e| panic!("a re-encoded envelope does not decode: {e}"));
    assert_eq!(again, envelope, "re-encoding changed the envelope");
    assert_eq!(
        serde_json::to_vec(&again).expect("serialises"),
        wire,
        "encoding is not stable"
    );

    let checked = envelope.check();
    assert_eq!(
        checked,
        again.check(),
        "check() differs between equal envelopes"
    );
    match checked {
        Ok(()) => {
            accepted_envelope_is_safe(&envelope, &wire);
            Decoded::Accepted(envelope)
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "check() refused without naming a field");
            for (i, error) in errors.iter().enumerate() {
                assert!(
                    ENVELOPE_POINTERS.contains(&error.pointer.as_str()),
                    "check() named an unknown field {:?}",
                    error.pointer
                );
                assert!(
                    !error.message.is_empty(),
                    "{} has no message",
                    error.pointer
                );
                assert!(
                    errors[..i].iter().all(|e| e.pointer != error.pointer),
                    "{} named twice",
                    error.pointer
                );
            }
            Decoded::Refused(envelope, errors)
        }
    }
}

/// What an accepted envelope guarantees to the broker, the store and other systems.
fn accepted_envelope_is_safe(envelope: &Envelope, wire: &[u8]) {
    let ids = [
        Some(envelope.id.as_str()),
        envelope.tenant.as_deref(),
        envelope.correlation_id.as_deref(),
        envelope.causation_id.as_deref(),
        envelope.idempotency_key.as_deref(),
        Some(envelope.idempotency_key()),
    ];
    for id in ids.into_iter().flatten() {
        assert!(!id.trim().is_empty(), "accepted an empty id {id:?}");
        assert!(
            id.len() <= MAX_ID_LEN,
            "accepted an id of {} bytes",
            id.len()
        );
        assert!(id.len() <= AMQP_SHORT_STR);
        assert!(!id.chars().any(char::is_control), "accepted {id:?}");
    }

    // The type is the routing key: a short string, and no topic wildcard or empty word that
    // would make it bind or route to more than itself.
    let t = &envelope.message_type;
    assert!(t.len() <= AMQP_SHORT_STR, "type of {} bytes", t.len());
    assert!(t.split('.').count() >= 2, "type {t:?} has no action");
    assert!(
        t.split('.')
            .all(|w| !w.is_empty() && !w.contains(['*', '#'])),
        "type {t:?} is not a plain routing key"
    );
    assert_eq!(Some(envelope.integration()), t.split('.').next());

    // `occurred_at` is documented as RFC 3339, so what we publish must be RFC 3339 (other
    // systems parse it with strict RFC 3339 parsers) and mean the same instant.
    let published: Value = serde_json::from_slice(wire).expect("wire is JSON");
    let occurred_at = published["occurred_at"]
        .as_str()
        .expect("occurred_at is a string");
    let parsed = DateTime::parse_from_rfc3339(occurred_at).unwrap_or_else(|e| {
        panic!("accepted an envelope whose occurred_at re-encodes as {occurred_at:?}, not RFC 3339: {e}")
    });
    assert_eq!(parsed, envelope.occurred_at);
}

/// Splits `input` into `n - 1` lines and the rest (missing parts are empty).
fn fields<const N: usize>(input: &[u8]) -> [&[u8]; N] {
    let mut parts = input.splitn(N, |b| *b == b'\n');
    std::array::from_fn(|_| parts.next().unwrap_or_default())
}

/// The Twilio signature properties, on `token \n url \n signature header \n form body`.
///
/// The body is decoded as the ingress decodes it (`serde_urlencoded` into name/value pairs) and
/// the header read as the ingress reads it (absent unless visible ASCII). Returns whether
/// the header was accepted.
pub fn twilio(input: &[u8]) -> bool {
    let [token, url, header, body] = fields::<4>(input);
    let (token, url) = (String::from_utf8_lossy(token), String::from_utf8_lossy(url));
    let header = match std::str::from_utf8(header) {
        Ok(h) if h.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) => h,
        _ => "",
    };
    let Ok(params) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) else {
        return false;
    };

    let expected = twilio::sign(&token, &url, &params);
    let mac = STANDARD
        .decode(&expected)
        .expect("a signature is standard base64");
    assert_eq!(mac.len(), 20, "a signature is an HMAC-SHA1");

    // Exactly the expected signature verifies.
    let accepted = twilio::verify(&token, &url, &params, header);
    assert_eq!(accepted, header == expected, "verify disagrees with sign");
    assert!(twilio::verify(&token, &url, &params, &expected));

    // Twilio sorts the parameters, so their order on the wire does not matter.
    let mut reordered = params.clone();
    reordered.reverse();
    if let Some(first) = reordered.first().cloned() {
        reordered.remove(0);
        reordered.push(first);
    }
    assert!(twilio::verify(&token, &url, &reordered, &expected));

    // Any change to the signature is refused: one character, one character less or more.
    let mut mutated = expected.clone().into_bytes();
    let at = input.len() % mutated.len();
    mutated[at] = if mutated[at] == b'A' { b'B' } else { b'A' };
    let mutated = String::from_utf8(mutated).expect("ASCII");
    assert!(!twilio::verify(&token, &url, &params, &mutated));
    assert!(!twilio::verify(
        &token,
        &url,
        &params,
        &expected[..expected.len() - 1]
    ));
    assert!(!twilio::verify(
        &token,
        &url,
        &params,
        &format!("{expected}=")
    ));
    assert!(!twilio::verify(&token, &url, &params, ""));
    accepted
}

/// The catalogue properties, on `message type \n JSON payload`. Returns the payload and the
/// types whose schema accepted it, or `None` when the payload is not JSON.
pub fn catalogue(input: &[u8]) -> Option<(Value, Vec<&'static str>)> {
    let [name, payload] = fields::<2>(input);
    let name = String::from_utf8_lossy(name);
    let payload: Value = serde_json::from_slice(payload).ok()?;

    if catalogue::find(&name).is_none() {
        assert!(
            matches!(catalogue::validate(&name, &payload), Err(PayloadError::UnknownType(t)) if t == name),
            "an unknown type is its own error"
        );
    }

    let document = json!({ "payload": payload });
    let mut accepted = Vec::new();
    for t in catalogue::types() {
        let first = catalogue::validate(t.name, &payload);
        let second = catalogue::validate(t.name, &payload);
        match first {
            Ok(()) => {
                assert!(second.is_ok(), "validation is not deterministic");
                accepted.push(t.name);
            }
            Err(PayloadError::Invalid {
                message_type,
                errors,
            }) => {
                assert_eq!(message_type, t.name);
                assert!(!errors.is_empty(), "refused without naming a field");
                for e in &errors {
                    // Every 422 points at something the client sent.
                    assert!(
                        e.pointer.starts_with("/payload"),
                        "pointer {:?} is outside the payload",
                        e.pointer
                    );
                    assert!(
                        document.pointer(&e.pointer).is_some(),
                        "pointer {:?} does not resolve in the payload",
                        e.pointer
                    );
                    assert!(!e.message.is_empty());
                }
                let Err(PayloadError::Invalid { errors: again, .. }) = second else {
                    panic!("validation is not deterministic")
                };
                assert_eq!(again, errors, "validation is not deterministic");
            }
            Err(PayloadError::UnknownType(t)) => panic!("catalogue type {t} is unknown"),
        }
    }
    Some((payload, accepted))
}
