//! The SMS worker's messages, decoded from the envelope's `type` and `payload`
//! (schemas: `crates/contract/schemas/sms.*.json`).

use serde::Deserialize;
use serde_json::Map;

/// Every job the SMS worker handles.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum SmsJob {
    /// `sms.send`: send one SMS.
    #[serde(rename = "sms.send")]
    Send(SendSms),
    /// `sms.status`: a status callback from Twilio, relayed by the ingress.
    #[serde(rename = "sms.status")]
    Status(StatusReport),
}

/// `sms.send`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendSms {
    /// Recipient, E.164.
    pub to: String,
    /// Literal text (exclusive with `template`).
    pub body: Option<String>,
    /// Template name (exclusive with `body`).
    pub template: Option<String>,
    /// Template variables.
    #[serde(default)]
    pub vars: Map<String, serde_json::Value>,
    /// Locale of the template (`fr`, `fr-CA`); English when absent.
    pub locale: Option<String>,
    /// Sender override.
    pub from: Option<String>,
    /// Messaging Service override.
    pub messaging_service_sid: Option<String>,
}

/// `sms.status`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    /// Twilio MessageSid.
    pub provider_ref: String,
    /// Twilio MessageStatus.
    pub status: String,
    /// Twilio ErrorCode, for undelivered/failed.
    #[serde(default)]
    pub error_code: Option<String>,
}
