//! The push worker's messages, decoded from the envelope's `type` and `payload`
//! (schema: `crates/contract/schemas/push.send.json`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::Map;

/// Every job the push worker handles.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum PushJob {
    /// `push.send`: one notification to one device.
    #[serde(rename = "push.send")]
    Send(SendPush),
}

/// The device's platform, which decides the provider: FCM for Android and web, APNs for iOS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// An FCM registration token of an Android app.
    Android,
    /// An APNs device token (hex) of an iOS app.
    Ios,
    /// An FCM registration token of a web app (Web Push through FCM).
    Web,
}

impl Platform {
    /// The lower-case name, as in the schema and the `push.token_invalidated` event.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Android => "android",
            Platform::Ios => "ios",
            Platform::Web => "web",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgently the provider should deliver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Wake the device now (APNs priority 10, FCM `HIGH`).
    #[default]
    High,
    /// Deliver when convenient for the battery (APNs 5, FCM `NORMAL`).
    Normal,
}

/// `push.send`: one device token, so idempotency (one notification per idempotency key) is
/// per token. Fanning out to a parent's several devices is several messages.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendPush {
    /// The FCM registration token or APNs device token.
    pub token: String,
    /// Which provider the token belongs to.
    pub platform: Platform,
    /// Literal title (exclusive with `template`).
    pub title: Option<String>,
    /// Literal body (exclusive with `template`).
    pub body: Option<String>,
    /// Template name: `push/<name>.title.txt` and `push/<name>.body.txt`.
    pub template: Option<String>,
    /// Template variables.
    #[serde(default)]
    pub vars: Map<String, serde_json::Value>,
    /// Locale of the template; English when absent.
    pub locale: Option<String>,
    /// Key/value data for the app (FCM `data`, APNs custom keys).
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// App icon badge (APNs `badge`, Android `notification_count`).
    pub badge: Option<u32>,
    /// Sound name (`default` for the system sound).
    pub sound: Option<String>,
    /// Newer notifications with the same key replace older ones on the device.
    pub collapse_key: Option<String>,
    /// Delivery priority.
    #[serde(default)]
    pub priority: Priority,
    /// How long the provider keeps trying an offline device, in seconds; 0 = now or never.
    pub ttl_seconds: Option<u32>,
}

/// What the notification says, after templates are rendered. Both empty is a data-only
/// (silent) push.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Content {
    /// Title shown.
    pub title: Option<String>,
    /// Text shown.
    pub body: Option<String>,
}

impl Content {
    /// Whether nothing is shown: a background push that only wakes the app with `data`.
    pub fn is_silent(&self) -> bool {
        self.title.is_none() && self.body.is_none()
    }
}
