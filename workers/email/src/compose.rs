//! Turns an `email.send` into the bytes handed to the relay: addresses, subject and bodies
//! (literal or from templates), attachments, custom headers and the stable `Message-ID`.
//!
//! Everything a header is made of is checked for CR/LF here even though the schema already
//! refuses it at the ingress: a message published straight to AMQP skips the ingress, and a
//! template variable can carry a line break into a rendered subject.

use base64::Engine as _;
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use sha2::{Digest, Sha256};
use switchyard_templates::{RenderError, Templates};

use crate::error::EmailError;
use crate::job::{AttachmentSpec, MailboxSpec, SendEmail};

/// Headers a message may set besides `X-…` ones: list management and threading. Everything
/// else (From, Sender, Return-Path, DKIM-Signature, …) is ours or the relay's to set.
pub const ALLOWED_HEADERS: &[&str] = &[
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
    "Auto-Submitted",
    "Precedence",
    "In-Reply-To",
    "References",
];

/// Subject and bodies, ready to be assembled.
#[derive(Debug)]
pub struct Content {
    /// One line, checked.
    pub subject: String,
    /// Plain-text body.
    pub text: Option<String>,
    /// HTML body (templates escape variables).
    pub html: Option<String>,
}

/// The subject and bodies: the literal ones, or `email/<name>.subject.txt`, `.txt` and
/// `.html` (the HTML one optional) rendered for the tenant and locale.
pub fn content(
    email: &SendEmail,
    templates: &Templates,
    tenant: Option<&str>,
) -> Result<Content, EmailError> {
    let content = match (&email.template, &email.subject) {
        (Some(name), _) => {
            let render = |suffix: &str| {
                templates.render(
                    tenant,
                    email.locale.as_deref(),
                    &format!("email/{name}{suffix}"),
                    &email.vars,
                )
            };
            let html = match render(".html") {
                Ok(html) => Some(html),
                Err(RenderError::Unknown { .. }) => None,
                Err(other) => return Err(other.into()),
            };
            Content {
                subject: render(".subject.txt")?.trim_end().to_owned(),
                text: Some(render(".txt")?),
                html,
            }
        }
        (None, Some(subject)) if email.text.is_some() || email.html.is_some() => Content {
            subject: subject.clone(),
            text: email.text.clone(),
            html: email.html.clone(),
        },
        (None, _) => return Err(EmailError::NoContent),
    };
    one_line("subject", &content.subject)?;
    Ok(content)
}

/// The `Message-ID` for an idempotency key: the same key gives the same id, so a resend
/// after a crash (or an unknown outcome) is recognisably the same message to receivers.
pub fn message_id(idempotency_key: &str, domain: &str) -> String {
    let digest = Sha256::digest(format!("switchyard-email:{idempotency_key}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("<{hex}@{domain}>")
}

/// What [`build`] needs besides the job.
pub struct Envelope<'a> {
    /// The sender.
    pub from: &'a Mailbox,
    /// The tenant's default `Reply-To`, used when the message names none.
    pub reply_to: Option<&'a Mailbox>,
    /// The `Message-ID` (see [`message_id`]).
    pub message_id: String,
    /// Largest total of decoded attachment bytes.
    pub attachment_limit: usize,
}

/// Builds the message: `multipart/mixed` (attachments) around `multipart/alternative`
/// (text and HTML), or just the parts that exist.
pub fn build(
    email: &SendEmail,
    content: Content,
    envelope: Envelope<'_>,
) -> Result<Message, EmailError> {
    let mut builder = Message::builder()
        .from(envelope.from.clone())
        .message_id(Some(envelope.message_id))
        .subject(content.subject)
        .date_now();
    for (i, to) in email.to.iter().enumerate() {
        builder = builder.to(mailbox(to, &format!("to[{i}]"))?);
    }
    for (i, cc) in email.cc.iter().enumerate() {
        builder = builder.cc(mailbox(cc, &format!("cc[{i}]"))?);
    }
    for (i, bcc) in email.bcc.iter().enumerate() {
        builder = builder.bcc(mailbox(bcc, &format!("bcc[{i}]"))?);
    }
    if let Some(reply_to) = &email.reply_to {
        builder = builder.reply_to(mailbox(reply_to, "reply_to")?);
    } else if let Some(reply_to) = envelope.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    for (name, value) in &email.headers {
        builder = builder.raw_header(custom_header(name, value)?);
    }
    let body = bodies(content.text, content.html);
    let attachments = attachments(&email.attachments, envelope.attachment_limit)?;
    let message = if attachments.is_empty() {
        builder.multipart(body)
    } else {
        let mixed = attachments
            .into_iter()
            .fold(MultiPart::mixed().multipart(body), MultiPart::singlepart);
        builder.multipart(mixed)
    };
    message.map_err(|e| EmailError::Build(e.to_string()))
}

fn bodies(text: Option<String>, html: Option<String>) -> MultiPart {
    match (text, html) {
        (Some(text), Some(html)) => MultiPart::alternative_plain_html(text, html),
        (Some(text), None) => MultiPart::alternative().singlepart(SinglePart::plain(text)),
        (None, Some(html)) => MultiPart::alternative().singlepart(SinglePart::html(html)),
        // `content` guarantees one body; an empty text part keeps this total anyway.
        (None, None) => MultiPart::alternative().singlepart(SinglePart::plain(String::new())),
    }
}

/// A checked mailbox: no line breaks in the name or address, and an address lettre accepts.
pub fn mailbox(spec: &MailboxSpec, field: &str) -> Result<Mailbox, EmailError> {
    one_line(field, spec.email())?;
    if let Some(name) = spec.name() {
        one_line(&format!("{field}.name"), name)?;
    }
    let address = spec
        .email()
        .parse()
        .map_err(|_| EmailError::InvalidAddress {
            field: field.to_owned(),
        })?;
    Ok(Mailbox::new(spec.name().map(str::to_owned), address))
}

fn custom_header(name: &str, value: &str) -> Result<HeaderValue, EmailError> {
    let allowed = name.len() > 2 && name[..2].eq_ignore_ascii_case("X-")
        || ALLOWED_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name));
    let token = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !allowed || !token {
        return Err(EmailError::HeaderNotAllowed {
            name: name.to_owned(),
        });
    }
    one_line(&format!("headers.{name}"), value)?;
    let name =
        HeaderName::new_from_ascii(name.to_owned()).map_err(|_| EmailError::HeaderNotAllowed {
            name: name.to_owned(),
        })?;
    Ok(HeaderValue::new(name, value.to_owned()))
}

fn attachments(specs: &[AttachmentSpec], limit: usize) -> Result<Vec<SinglePart>, EmailError> {
    let mut total = 0usize;
    let mut parts = Vec::with_capacity(specs.len());
    for spec in specs {
        let inline = match spec {
            AttachmentSpec::Inline(inline) => inline,
            AttachmentSpec::Stored(_) => {
                return Err(EmailError::StorageNotSupported {
                    filename: spec.filename().to_owned(),
                });
            }
        };
        let invalid = |reason: &str| EmailError::InvalidAttachment {
            filename: inline.filename.clone(),
            reason: reason.to_owned(),
        };
        one_line("attachments.filename", &inline.filename)?;
        // Cheap check first: the decoded size is ¾ of the text, so a huge payload is refused
        // before it is decoded into memory.
        total += inline.content.len() / 4 * 3;
        if total > limit + 3 {
            return Err(EmailError::AttachmentsTooLarge { total, limit });
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(inline.content.as_bytes())
            .map_err(|_| invalid("content is not standard base64"))?;
        let content_type = inline
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        let content_type = ContentType::parse(content_type)
            .map_err(|_| invalid("content_type is not a MIME type"))?;
        parts.push(Attachment::new(inline.filename.clone()).body(bytes, content_type));
    }
    Ok(parts)
}

/// Refuses CR and LF, the two characters that end a header line.
fn one_line(field: &str, value: &str) -> Result<(), EmailError> {
    if value.contains(['\r', '\n']) {
        return Err(EmailError::InvalidHeader {
            field: field.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::InlineAttachment;

    fn no_templates() -> Templates {
        Templates::load(std::path::Path::new("/nonexistent")).unwrap()
    }

    fn email() -> SendEmail {
        SendEmail {
            to: vec![MailboxSpec::Bare("parent@example.org".into())],
            subject: Some("Report card".into()),
            text: Some("Attached.".into()),
            ..SendEmail::default()
        }
    }

    fn built(email: &SendEmail, limit: usize) -> Result<String, EmailError> {
        let from: Mailbox = "School <office@school.example>".parse().unwrap();
        let content = content(email, &no_templates(), None)?;
        let envelope = Envelope {
            from: &from,
            reply_to: None,
            message_id: message_id("key-1", "school.example"),
            attachment_limit: limit,
        };
        let message = build(email, content, envelope)?;
        Ok(String::from_utf8(message.formatted()).unwrap())
    }

    #[test]
    fn the_message_id_depends_only_on_the_key() {
        assert_eq!(message_id("k", "a.example"), message_id("k", "a.example"));
        assert_ne!(message_id("k", "a.example"), message_id("l", "a.example"));
        assert!(message_id("k", "a.example").ends_with("@a.example>"));
    }

    #[test]
    fn line_breaks_in_any_header_field_are_refused() {
        let mut subject = email();
        subject.subject = Some("Hi\r\nBcc: victim@example.org".into());
        let field = |e: EmailError| match e {
            EmailError::InvalidHeader { field } => field,
            other => panic!("{other}"),
        };
        assert_eq!(field(built(&subject, 10).unwrap_err()), "subject");
        let mut name = email();
        name.to = vec![MailboxSpec::Named(crate::job::NamedMailbox {
            email: "a@example.org".into(),
            name: Some("A\nB".into()),
        })];
        assert_eq!(field(built(&name, 10).unwrap_err()), "to[0].name");
        let mut header = email();
        header
            .headers
            .insert("X-Trace".into(), "1\r\nFrom: evil".into());
        assert_eq!(field(built(&header, 10).unwrap_err()), "headers.X-Trace");
    }

    #[test]
    fn only_x_and_allow_listed_headers_pass() {
        let mut from = email();
        from.headers
            .insert("Return-Path".into(), "x@example.org".into());
        assert!(matches!(
            built(&from, 10),
            Err(EmailError::HeaderNotAllowed { .. })
        ));
        let mut ok = email();
        ok.headers.insert("X-Campaign".into(), "term-1".into());
        ok.headers.insert(
            "List-Unsubscribe".into(),
            "<mailto:u@school.example>".into(),
        );
        let text = built(&ok, 10).unwrap();
        assert!(text.contains("X-Campaign: term-1"), "{text}");
    }

    #[test]
    fn attachments_over_the_limit_or_in_storage_are_refused() {
        let mut big = email();
        big.attachments = vec![AttachmentSpec::Inline(InlineAttachment {
            filename: "a.pdf".into(),
            content_type: Some("application/pdf".into()),
            content: "QUJD".repeat(10),
        })];
        assert!(matches!(
            built(&big, 20),
            Err(EmailError::AttachmentsTooLarge { .. })
        ));
        let text = built(&big, 30).unwrap();
        assert!(text.contains("filename=\"a.pdf\""), "{text}");
        assert!(text.contains("Message-ID: <"), "{text}");
        let json = r#"[{"filename": "r.pdf", "storage": "s3://bucket/r.pdf"}]"#;
        let mut stored = email();
        stored.attachments = serde_json::from_str(json).unwrap();
        assert!(matches!(
            built(&stored, 30),
            Err(EmailError::StorageNotSupported { .. })
        ));
    }

    #[test]
    fn bcc_is_in_the_envelope_only() {
        let mut e = email();
        e.bcc = vec![MailboxSpec::Bare("hidden@example.org".into())];
        let from: Mailbox = "office@school.example".parse().unwrap();
        let c = content(&e, &no_templates(), None).unwrap();
        let envelope = Envelope {
            from: &from,
            reply_to: None,
            message_id: message_id("k", "s"),
            attachment_limit: 0,
        };
        let message = build(&e, c, envelope).unwrap();
        assert_eq!(message.envelope().to().len(), 2);
        assert!(
            !String::from_utf8(message.formatted())
                .unwrap()
                .contains("hidden@")
        );
    }
}
