//! The email worker's messages, decoded from the envelope's `type` and `payload`
//! (schema: `crates/contract/schemas/email.send.json`). The schema already refused what it
//! can at the ingress; what arrives straight over AMQP is checked again in `compose.rs`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

/// Every job the email worker handles.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum EmailJob {
    /// `email.send`: send one email.
    #[serde(rename = "email.send")]
    Send(Box<SendEmail>),
    /// `email.bulk`: one template to many recipients, fanned out into `email.send`s.
    #[serde(rename = "email.bulk")]
    Bulk(Box<BulkEmail>),
}

/// `email.bulk`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkEmail {
    /// Template name, as in [`SendEmail::template`].
    pub template: String,
    /// Default locale; a recipient's own wins.
    pub locale: Option<String>,
    /// Variables shared by all recipients; a recipient's own win.
    #[serde(default)]
    pub vars: Map<String, Value>,
    /// `Reply-To` of every email.
    pub reply_to: Option<Value>,
    /// Extra headers of every email.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The recipients, at most 10,000 (the schema's limit).
    pub recipients: Vec<BulkRecipient>,
}

/// One recipient of an `email.bulk`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRecipient {
    /// The address, bare or named (kept as JSON: it is copied into the `email.send`).
    pub to: Value,
    /// This recipient's variables.
    #[serde(default)]
    pub vars: Map<String, Value>,
    /// This recipient's locale.
    pub locale: Option<String>,
}

/// `email.send`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendEmail {
    /// Recipients (at least one).
    pub to: Vec<MailboxSpec>,
    /// Carbon-copy recipients.
    #[serde(default)]
    pub cc: Vec<MailboxSpec>,
    /// Blind carbon-copy recipients: in the envelope, never in the headers.
    #[serde(default)]
    pub bcc: Vec<MailboxSpec>,
    /// Where replies go.
    pub reply_to: Option<MailboxSpec>,
    /// Literal subject (with `text` and/or `html`; exclusive with `template`).
    pub subject: Option<String>,
    /// Literal plain-text body.
    pub text: Option<String>,
    /// Literal HTML body.
    pub html: Option<String>,
    /// Template name: `email/<name>.subject.txt`, `.txt` and optionally `.html`.
    pub template: Option<String>,
    /// Template variables.
    #[serde(default)]
    pub vars: Map<String, Value>,
    /// Locale of the template; English when absent.
    pub locale: Option<String>,
    /// Files to attach.
    #[serde(default)]
    pub attachments: Vec<AttachmentSpec>,
    /// Extra headers: `X-…` or one of [`crate::compose::ALLOWED_HEADERS`].
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// An address, bare (`ada@example.org`) or with a display name.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum MailboxSpec {
    /// `"ada@example.org"`.
    Bare(String),
    /// `{"email": "ada@example.org", "name": "Ada Lovelace"}`.
    Named(NamedMailbox),
}

/// An address with an optional display name.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedMailbox {
    /// The address.
    pub email: String,
    /// The display name.
    pub name: Option<String>,
}

impl MailboxSpec {
    /// The address.
    pub fn email(&self) -> &str {
        match self {
            MailboxSpec::Bare(email) | MailboxSpec::Named(NamedMailbox { email, .. }) => email,
        }
    }

    /// The display name, if any.
    pub fn name(&self) -> Option<&str> {
        match self {
            MailboxSpec::Bare(_) => None,
            MailboxSpec::Named(named) => named.name.as_deref(),
        }
    }
}

/// An attachment: inline content now, or a reference the storage integration will resolve.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum AttachmentSpec {
    /// Base64 content in the message.
    Inline(InlineAttachment),
    /// `{"storage": "s3://…"}`: not resolvable yet (no storage integration).
    Stored(StoredAttachment),
}

/// Base64 content in the message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlineAttachment {
    /// File name shown to the recipient.
    pub filename: String,
    /// MIME type; `application/octet-stream` when absent.
    pub content_type: Option<String>,
    /// Standard base64 of the bytes.
    pub content: String,
}

/// A reference to a stored object.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredAttachment {
    /// File name shown to the recipient.
    pub filename: String,
    /// MIME type.
    pub content_type: Option<String>,
    /// The object, e.g. `s3://bucket/report-cards/42.pdf`.
    pub storage: String,
}

impl AttachmentSpec {
    /// The file name, for errors.
    pub fn filename(&self) -> &str {
        match self {
            AttachmentSpec::Inline(a) => &a.filename,
            AttachmentSpec::Stored(a) => &a.filename,
        }
    }
}
