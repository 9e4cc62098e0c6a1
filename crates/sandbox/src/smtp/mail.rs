//! What the SMTP listeners received: one record per message taken (or taken and then left
//! unanswered), served at `GET /_sandbox/mail` and cleared with `DELETE`.

use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One message as a relay saw it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordedMail {
    /// Order of receipt, from 1.
    pub seq: u64,
    /// The listener that took it: `primary` or `secondary`.
    pub listener: String,
    /// The user that logged in with AUTH, if any.
    pub authenticated_as: Option<String>,
    /// `MAIL FROM` address.
    pub mail_from: String,
    /// `RCPT TO` addresses, in order (Bcc recipients included).
    pub rcpt_to: Vec<String>,
    /// Header fields in order, unfolded.
    pub headers: Vec<(String, String)>,
    /// Everything after the blank line that ends the headers.
    pub body: String,
    /// The queue id given in the 250 reply (also given when the reply was withheld).
    pub queue_id: String,
    /// `false` when a fault closed the connection instead of answering the end of DATA.
    pub answered: bool,
    /// When the end of DATA arrived.
    pub received_at: DateTime<Utc>,
}

impl RecordedMail {
    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Splits a message (dot-unstuffed, CRLF line ends) into unfolded headers and body.
pub(crate) fn split(message: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = message.split_once("\r\n\r\n").unwrap_or((message, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    (headers, body.to_owned())
}

/// Messages received, oldest first.
#[derive(Debug, Default)]
pub(crate) struct MailRecord {
    inner: Mutex<(u64, Vec<RecordedMail>)>,
}

impl MailRecord {
    /// Keeps `mail`, numbering it; returns its number.
    pub(crate) fn push(&self, mut mail: RecordedMail) -> u64 {
        let mut inner = self.lock();
        inner.0 += 1;
        mail.seq = inner.0;
        inner.1.push(mail);
        inner.0
    }

    /// Every message, oldest first.
    pub(crate) fn all(&self) -> Vec<RecordedMail> {
        self.lock().1.clone()
    }

    /// Forgets every message (numbering continues).
    pub(crate) fn clear(&self) {
        self.lock().1.clear();
    }

    fn lock(&self) -> MutexGuard<'_, (u64, Vec<RecordedMail>)> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_unfolded_and_the_body_kept() {
        let (headers, body) = split("Subject: a\r\n long one\r\nTo: x@example.org\r\n\r\nHi\r\n");
        assert_eq!(headers[0], ("Subject".into(), "a long one".into()));
        assert_eq!(headers[1].1, "x@example.org");
        assert_eq!(body, "Hi\r\n");
    }
}
