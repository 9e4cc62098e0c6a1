//! CI's share of fuzzing (see `fuzz/README.md`): the kept fuzz corpora and the findings'
//! regression files are replayed, and proptest generates more inputs, through the same
//! properties the fuzz targets check (`tests/props/mod.rs`).

mod props;

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};
use switchyard_contract::signature::twilio;

use props::Decoded;

/// The types the fuzz targets decode into a worker's job (the SMS worker's); the corpora must
/// hold accepted inputs of each.
const FUZZED_JOB_TYPES: &[&str] = &["sms.send", "sms.status"];

/// The files of `fuzz/<kind>/<target>/`, sorted, with their bytes.
fn files(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz")
        .join(kind)
        .join(target);
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory").path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect()
}

/// The hand-written seeds, the minimised corpus and the findings' regression files of `target`.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let corpus = files("corpus", target);
    assert!(corpus.len() >= 10, "fuzz/corpus/{target} is nearly empty");
    let mut all = files("seeds", target);
    all.extend(corpus);
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    if regressions.is_dir() {
        all.extend(files("regressions", target));
    }
    all
}

/// Runs `check` on one input, naming the file when a property breaks.
fn replay<T>(path: &Path, check: impl FnOnce() -> T + std::panic::UnwindSafe) -> T {
    std::panic::catch_unwind(check)
        .unwrap_or_else(|_| panic!("a fuzz property broke on {}", path.display()))
}

#[test]
fn envelope_corpus_replays() {
    let (mut not_envelope, mut refused) = (0, 0);
    let mut accepted = std::collections::BTreeSet::new();
    for (path, body) in inputs("envelope_decode") {
        match replay(&path, || props::envelope(&body)) {
            Decoded::NotAnEnvelope => not_envelope += 1,
            Decoded::Refused(..) => refused += 1,
            Decoded::Accepted(envelope) => {
                accepted.insert(envelope.message_type);
            }
        }
    }
    // The corpus reaches every outcome, not only serde's refusals, and holds an accepted
    // envelope of each type the fuzz target decodes into a worker job.
    assert!(not_envelope > 0 && refused > 0);
    for t in FUZZED_JOB_TYPES {
        assert!(accepted.contains(*t), "no accepted {t} envelope");
    }
}

#[test]
fn envelope_finding_stays_fixed() {
    // envelope_decode's finding: chrono read `-01920-11-28T10:00:00Z`, check() accepted it and
    // the envelope was re-published with `-1920-…`, which is not RFC 3339.
    let (path, body) = files("regressions", "envelope_decode")
        .into_iter()
        .find(|(p, _)| p.ends_with("occurred-at-signed-year"))
        .expect("the regression file is kept");
    match props::envelope(&body) {
        Decoded::Refused(envelope, errors) => {
            assert_eq!(
                envelope.occurred_at.to_rfc3339(),
                "-1920-11-28T10:00:00+00:00"
            );
            let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
            assert_eq!(pointers, ["/occurred_at"], "{}", path.display());
        }
        other => panic!("{} is not refused: {other:?}", path.display()),
    }
}

#[test]
fn twilio_corpus_replays() {
    let (mut valid, mut invalid) = (0, 0);
    for (path, input) in inputs("twilio_signature") {
        if replay(&path, || props::twilio(&input)) {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    assert!(valid > 0 && invalid > 0, "{valid} valid, {invalid} invalid");
}

#[test]
fn catalogue_corpus_replays() {
    let mut accepted_by = std::collections::BTreeMap::<&str, usize>::new();
    let mut refused_by_all = 0;
    for (path, input) in inputs("catalogue_validate") {
        let Some((_, accepted)) = replay(&path, || props::catalogue(&input)) else {
            continue;
        };
        if accepted.is_empty() {
            refused_by_all += 1;
        }
        for t in accepted {
            *accepted_by.entry(t).or_default() += 1;
        }
    }
    assert!(refused_by_all > 0);
    for t in FUZZED_JOB_TYPES {
        assert!(
            accepted_by.get(t).is_some_and(|n| *n > 0),
            "the corpus has no payload {t} accepts"
        );
    }
}

#[test]
fn twilio_documented_example_seeds_the_corpus() {
    let example = fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/seeds/twilio_signature/documented-example"),
    )
    .expect("the documented example seeds the corpus");
    assert!(props::twilio(&example), "Twilio's own example must verify");
}

// ---- Generated inputs -------------------------------------------------------------------------

/// Ids: mostly plausible, sometimes empty, blank, long or with control characters.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9_-]{1,40}",
        1 => Just(String::new()),
        1 => " {1,3}",
        1 => "[a-z]{195,205}",
        1 => "\\PC{0,5}[\u{0}-\u{1f}\u{7f}-\u{9f}]\\PC{0,5}",
        1 => any::<String>(),
    ]
}

fn message_type() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9_]{0,8}(\\.[a-z][a-z0-9_]{0,8}){1,3}",
        1 => "[a-zA-Z0-9_.*# -]{0,12}",
        1 => any::<String>(),
    ]
}

/// Any instant chrono can hold near the RFC 3339 range, written with any offset.
fn occurred_at() -> impl Strategy<Value = DateTime<FixedOffset>> {
    let min = Utc.with_ymd_and_hms(-2, 1, 1, 0, 0, 0).unwrap().timestamp();
    let max = Utc
        .with_ymd_and_hms(10_001, 1, 1, 0, 0, 0)
        .unwrap()
        .timestamp();
    let offset = -(24 * 3600 - 1)..(24 * 3600);
    (min..max, 0..1_000_000_000u32, offset).prop_map(|(secs, nanos, offset)| {
        DateTime::from_timestamp(secs, nanos)
            .expect("in range")
            .with_timezone(&FixedOffset::east_opt(offset).expect("valid offset"))
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("\\PC{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An envelope as JSON, with every optional field sometimes present.
fn envelope_json() -> impl Strategy<Value = Value> {
    (
        id(),
        message_type(),
        occurred_at(),
        prop::option::of(id()),
        prop::option::of(id()),
        prop::option::of(id()),
        prop::option::of(id()),
        json_value(),
    )
        .prop_map(|(id, t, at, tenant, corr, cause, key, payload)| {
            let mut e = json!({
                "id": id, "type": t, "occurred_at": at.to_rfc3339(), "payload": payload,
            });
            for (name, value) in [
                ("tenant", tenant),
                ("correlation_id", corr),
                ("causation_id", cause),
                ("idempotency_key", key),
            ] {
                if let Some(value) = value {
                    e[name] = json!(value);
                }
            }
            e
        })
}

/// A plausible form parameter name or value (no line breaks: they separate the input's fields).
fn form_text() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z]{0,12}", "[^\n]{0,12}", "[+&=%# ]{0,4}"]
}

fn sms_send_payload() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        (
            "to",
            prop_oneof!["\\+[1-9][0-9]{1,14}", "\\+?[0-9]{0,17}\n?"].prop_map(Value::from)
        ),
        (
            "body",
            prop_oneof!["\\PC{1,20}", Just(String::new())].prop_map(Value::from)
        ),
        ("body", Just(Value::from("x".repeat(1601)))),
        ("template", "[a-z0-9_/.]{0,66}".prop_map(Value::from)),
        ("vars", json_value()),
        ("from", "\\PC{0,22}".prop_map(Value::from)),
        (
            "messaging_service_sid",
            "MG[0-9a-fA-Fg]{31,33}".prop_map(Value::from)
        ),
        ("provider_ref", "SM[0-9a-f]{0,70}".prop_map(Value::from)),
        (
            "status",
            prop_oneof![Just("delivered"), Just("failed"), Just("lost")].prop_map(Value::from)
        ),
        (
            "error_code",
            prop_oneof![Just(Value::Null), "[0-9]{0,18}".prop_map(Value::from)]
        ),
        ("\\PC{0,4}/~", json_value()),
    ];
    prop::collection::vec(field, 0..6).prop_map(|fields| {
        Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_envelopes_hold(envelope in envelope_json()) {
        let body = serde_json::to_vec(&envelope).expect("serialises");
        prop_assert!(!matches!(props::envelope(&body), Decoded::NotAnEnvelope));
    }

    #[test]
    fn mutated_envelopes_hold(
        envelope in envelope_json(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..4),
    ) {
        let mut body = serde_json::to_vec(&envelope).expect("serialises");
        for (at, byte, op) in edits {
            let i = at.index(body.len());
            match op {
                0 => body[i] = byte,
                1 => body.insert(i, byte),
                _ => { body.remove(i); }
            }
        }
        props::envelope(&body);
    }

    #[test]
    fn plausible_envelopes_are_accepted(
        id in "[A-Za-z0-9_-]{1,40}",
        t in "[a-z][a-z0-9_]{0,8}(\\.[a-z][a-z0-9_]{0,8}){1,3}",
        secs in 0..253_402_214_400i64, // 1970 ..= 9999-12-30
        payload in json_value(),
    ) {
        let at = DateTime::from_timestamp(secs, 0).expect("in range");
        let body = serde_json::to_vec(&json!({
            "id": id, "type": t, "occurred_at": at, "payload": payload,
        })).expect("serialises");
        prop_assert!(matches!(props::envelope(&body), Decoded::Accepted(_)));
    }

    #[test]
    fn arbitrary_bytes_are_refused_cleanly(body in prop::collection::vec(any::<u8>(), 0..200)) {
        props::envelope(&body);
        props::catalogue(&body);
        props::twilio(&body);
    }

    #[test]
    fn signed_callbacks_verify(
        token in "[^\n]{0,40}",
        url in "[^\n]{0,80}",
        params in prop::collection::vec((form_text(), form_text()), 0..8),
        forged in "[A-Za-z0-9+/]{27}=",
    ) {
        // The ingress verifies the parameters as it decoded them: form encoding must not lose
        // anything Twilio signed.
        let signature = twilio::sign(&token, &url, &params);
        let form = serde_urlencoded::to_string(&params).expect("encodes");
        let input = format!("{token}\n{url}\n{signature}\n{form}");
        prop_assert!(props::twilio(input.as_bytes()));
        let input = format!("{token}\n{url}\n{forged}\n{form}");
        prop_assert_eq!(props::twilio(input.as_bytes()), forged == signature);
    }

    #[test]
    fn generated_payloads_hold(payload in sms_send_payload()) {
        for t in ["sms.send", "sms.status", "fax.send"] {
            let input = format!("{t}\n{payload}");
            prop_assert!(props::catalogue(input.as_bytes()).is_some());
        }
    }

    #[test]
    fn valid_sms_sends_are_accepted(
        to in "\\+[1-9][0-9]{1,14}",
        body in "\\PC{1,200}",
        extra in prop::option::of("[a-z_]{1,8}"),
    ) {
        let mut payload = json!({ "to": to, "body": body });
        if let Some(extra) = &extra {
            payload[extra] = json!(1);
        }
        let input = format!("sms.send\n{payload}");
        let (_, accepted) = props::catalogue(input.as_bytes()).expect("JSON");
        // A number is no field's type, and a field the schema does not know is refused
        // (additionalProperties: false): only the plain message is accepted.
        prop_assert_eq!(accepted.contains(&"sms.send"), extra.is_none(), "{}", payload);
    }
}
