//! The payload cipher: key rotation, tamper detection, and key lists that explain what is
//! wrong with them.

mod common;
mod dead_letter_support;

use dead_letter_support as dl;
use switchyard_store::{PayloadCipher, StoreError};

#[test]
fn rotation_keeps_old_rows_readable_and_encrypts_with_the_new_key() {
    let old_key = PayloadCipher::generate_key();
    let old = PayloadCipher::parse(&format!("old:{old_key}")).unwrap();
    let (old_id, old_blob) = old.encrypt(b"before rotation");
    assert_eq!(old_id, "old");

    let rotated = PayloadCipher::parse(&format!(
        "new:{}, old:{old_key}",
        PayloadCipher::generate_key()
    ))
    .unwrap();
    assert_eq!(
        rotated.decrypt("old", &old_blob).unwrap(),
        b"before rotation"
    );
    let (new_id, new_blob) = rotated.encrypt(b"after rotation");
    assert_eq!(new_id, "new");
    assert_eq!(
        rotated.decrypt("new", &new_blob).unwrap(),
        b"after rotation"
    );

    let err = old.decrypt("new", &new_blob).unwrap_err();
    assert!(matches!(err, StoreError::UnknownPayloadKey { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("\"new\"") && message.contains("SWITCHYARD_DLQ_KEYS"),
        "{message}"
    );
}

#[test]
fn tampering_and_wrong_keys_are_detected() {
    let cipher = dl::cipher("k1");
    let (id, blob) = cipher.encrypt(b"pay 10 GBP");
    for position in [0, 12, blob.len() - 1] {
        let mut tampered = blob.clone();
        tampered[position] ^= 0x01;
        let err = cipher.decrypt(&id, &tampered).unwrap_err();
        assert!(
            matches!(err, StoreError::PayloadUndecryptable { .. }),
            "{err}"
        );
    }
    let impostor = dl::cipher("k1");
    let err = impostor.decrypt(&id, &blob).unwrap_err();
    assert!(err.to_string().contains("altered"), "{err}");
}

#[test]
fn bad_key_specs_say_what_is_wrong_without_echoing_keys() {
    let good = PayloadCipher::generate_key();
    let short = "c2hvcnQga2V5"; // base64 of "short key"
    let cases = [
        (String::new(), "no keys"),
        ("   ".to_owned(), "no keys"),
        (good.clone(), "no `:`"),
        (format!(":{good}"), "empty key id"),
        ("k1:not base64!".to_owned(), "not valid standard base64"),
        (format!("k1:{short}"), "is 9 bytes"),
        (format!("k1:{good},k1:{good}"), "appears twice"),
        (format!("k1:{good},"), "entry 2 has no `:`"),
    ];
    for (spec, why) in cases {
        let err = PayloadCipher::parse(&spec).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, StoreError::PayloadKeys(_)),
            "{spec:?}: {message}"
        );
        assert!(message.contains(why), "{spec:?}: {message}");
        assert!(!message.contains(&good), "key leaked: {message}");
    }
}
