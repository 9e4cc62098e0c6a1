//! `token \n url \n X-Twilio-Signature \n form body` → the ingress's form decoding and
//! `twilio::verify`: never panics, accepts exactly `sign`'s output, refuses any mutation of it.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/contract/tests/props/mod.rs"]
mod props;

fuzz_target!(|input: &[u8]| {
    props::twilio(input);
});
