//! Raw AMQP body → the runtime's decode (envelope, `check()`, the SMS worker's job), checked
//! against the envelope properties and the catalogue: whatever the ingress would accept, the
//! worker must decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_contract::catalogue;
use switchyard_runtime::incoming::{DecodeError, decode};
use switchyard_sms::SmsJob;

#[allow(dead_code)]
#[path = "../../crates/contract/tests/props/mod.rs"]
mod props;

fuzz_target!(|body: &[u8]| {
    let contract = props::envelope(body);
    let runtime = decode::<SmsJob>(body);
    match (contract, runtime) {
        (props::Decoded::NotAnEnvelope, Err(DecodeError::Envelope(_))) => {}
        (props::Decoded::Refused(..), Err(DecodeError::Fields(message))) => {
            assert!(!message.is_empty());
        }
        (props::Decoded::Accepted(envelope), Ok((decoded, job))) => {
            assert_eq!(decoded, envelope);
            let job_type = match job {
                SmsJob::Send(_) => "sms.send",
                SmsJob::Status(_) => "sms.status",
            };
            assert_eq!(job_type, envelope.message_type);
        }
        (props::Decoded::Accepted(envelope), Err(DecodeError::Job { message_type, .. })) => {
            assert_eq!(message_type, envelope.message_type);
            // The SMS worker refuses only what the ingress refuses too. (Other integrations'
            // types are not its jobs; a new worker adds its own job type here.)
            assert!(
                envelope.integration() != "sms"
                    || catalogue::validate(&envelope.message_type, &envelope.payload).is_err(),
                "the catalogue accepts this payload but the SMS worker cannot decode it: {envelope:?}"
            );
        }
        (contract, runtime) => {
            panic!("the contract and the runtime disagree: {contract:?} vs {runtime:?}")
        }
    }
});
