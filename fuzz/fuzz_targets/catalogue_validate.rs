//! `message type \n JSON payload` → catalogue validation against every type: never panics,
//! names fields that exist, and whatever a schema accepts, the worker's job type decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use switchyard_runtime::incoming::decode;
use switchyard_sms::SmsJob;

#[allow(dead_code)]
#[path = "../../crates/contract/tests/props/mod.rs"]
mod props;

fuzz_target!(|input: &[u8]| {
    let Some((payload, accepted)) = props::catalogue(input) else {
        return;
    };
    for message_type in accepted {
        // Only the SMS worker exists so far; a new integration adds its job type here.
        if !message_type.starts_with("sms.") {
            continue;
        }
        let body = json!({
            "id": "fuzz",
            "type": message_type,
            "occurred_at": "2026-11-28T10:00:00Z",
            "payload": payload,
        });
        let body = serde_json::to_vec(&body).expect("serialises");
        if let Err(e) = decode::<SmsJob>(&body) {
            panic!(
                "the schema of {message_type} accepts {payload} but the SMS worker refuses it: {e}"
            );
        }
    }
});
