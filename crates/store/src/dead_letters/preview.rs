//! The masked preview shown in listings, so people can recognise a message without the
//! admin-only, audited full payload.
//!
//! The preview is stored in clear next to the encrypted payload, so it must not carry what
//! identifies a parent: phone numbers and emails are masked and long strings cut short.

use serde_json::Value;
use switchyard_telemetry::mask;

use super::normalize::email_len;

/// Longest string value kept whole, in characters.
const MAX_STRING: usize = 40;
/// Longest preview, in characters.
const MAX_PREVIEW: usize = 200;

/// A masked, shortened rendering of a message body: JSON with every phone number and email
/// masked (`+155*****567`, `a***@example.org`), strings over 40 characters cut to 37 and `…`,
/// the whole at most 200 characters. A body that is not JSON becomes `<N bytes, not JSON>`.
///
/// Masking applies to every string value, not only those under `payload`: an envelope field
/// holding an address is just as identifying.
pub fn preview(body: &[u8]) -> String {
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
        return format!("<{} bytes, not JSON>", body.len());
    };
    mask_strings(&mut value);
    truncate(&value.to_string(), MAX_PREVIEW)
}

fn mask_strings(value: &mut Value) {
    match value {
        Value::String(s) => *s = truncate(&mask_text(s), MAX_STRING),
        Value::Array(items) => items.iter_mut().for_each(mask_strings),
        Value::Object(fields) => fields.values_mut().for_each(mask_strings),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Masks a whole value that is a phone number or an email, and any phone number or email
/// inside free text ("call +15551234567").
fn mask_text(text: &str) -> String {
    if looks_like_phone(text) {
        return mask::phone(text);
    }
    let chars: Vec<char> = text.chars().collect();
    if email_len(&chars, 0) == Some(chars.len()) {
        return mask::email(text);
    }
    emails_in(&mask::phones_in(text))
}

/// Digits with the usual phone punctuation (`+1 (555) 123-4567`), 7 to 15 digits in all.
fn looks_like_phone(text: &str) -> bool {
    let digits = text.chars().filter(char::is_ascii_digit).count();
    let phone_chars = text
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    phone_chars
        && (7..=15).contains(&digits)
        && text.starts_with(|c: char| c == '+' || c.is_ascii_digit())
}

fn emails_in(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let at_boundary = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        match email_len(&chars, i).filter(|_| at_boundary) {
            Some(len) => {
                out.push_str(&mask::email(&chars[i..i + len].iter().collect::<String>()));
                i += len;
            }
            None => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out
}

/// `text` if it has at most `max` characters, else its first `max - 3` and `…`.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 3).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::preview;

    #[test]
    fn phones_and_emails_are_masked_wherever_they_are() {
        let body = br#"{"type":"sms.send","payload":{"to":"+15551234567",
            "cc":"ada.lovelace@example.org","body":"Call +447700900123 or bob@school.edu"}}"#;
        let shown = preview(body);
        assert!(shown.contains(r#""to":"+155*****567""#), "{shown}");
        assert!(shown.contains(r#""cc":"a***@example.org""#), "{shown}");
        assert!(
            shown.contains("Call +447******123 or b***@school.edu"),
            "{shown}"
        );
        for secret in ["5551234", "ada.lovelace", "7700900", "bob@"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
    }

    #[test]
    fn long_strings_and_long_previews_are_cut() {
        let long = "x".repeat(100);
        let shown = preview(format!(r#"{{"payload":{{"body":"{long}"}}}}"#).as_bytes());
        assert_eq!(
            shown,
            format!(r#"{{"payload":{{"body":"{}…"}}}}"#, "x".repeat(37))
        );

        let many: Vec<String> = (0..50).map(|n| format!(r#""k{n}":"v{n}""#)).collect();
        let shown = preview(format!("{{{}}}", many.join(",")).as_bytes());
        assert_eq!(shown.chars().count(), 198, "197 kept and an ellipsis");
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn non_json_bodies_are_described_not_shown() {
        assert_eq!(preview(b"\x00\x01secret"), "<8 bytes, not JSON>");
        assert_eq!(preview(b""), "<0 bytes, not JSON>");
        assert_eq!(preview(b"[1,true,null]"), "[1,true,null]");
    }
}
