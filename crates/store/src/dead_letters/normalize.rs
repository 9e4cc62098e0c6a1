//! Error-message normalisation, so failures of one cause land in one group.
//!
//! "The 'To' number +15005550001 is not valid" and the same message for another parent differ
//! only in what identifies the recipient; the workbench should show one group of 5 000, not
//! 5 000 groups of one. Written as a small scanner rather than regexes: the patterns are few,
//! and the crate stays free of a regex engine.

use sha2::{Digest, Sha256};

/// Longest normalised message kept, in characters.
const MAX_CHARS: usize = 300;

/// Replaces what varies between otherwise identical failures: emails → `<email>`, UUIDs →
/// `<uuid>`, Twilio-style SIDs (two letters + 32 hex) → `<sid>`, phone numbers (`+` and 7–15
/// digits) → `<phone>`, hex runs of 8 or more with a digit and a letter → `<hex>`, numbers →
/// `<n>`. Then collapses whitespace, trims, and keeps at most 300 characters.
pub fn normalize_error(message: &str) -> String {
    let chars: Vec<char> = message.chars().collect();
    let mut out = String::with_capacity(message.len());
    let mut i = 0;
    while i < chars.len() {
        match token_at(&chars, i) {
            Some((len, placeholder)) => {
                out.push_str(placeholder);
                i += len;
            }
            None => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(MAX_CHARS).collect()
}

/// The group a failure belongs to: the first 16 hex characters of SHA-256 over integration,
/// class, code and normalised message, joined by the unit separator (U+001F) so that no two
/// different tuples hash the same text.
pub fn group_id(
    integration: &str,
    error_class: &str,
    error_code: &str,
    normalized: &str,
) -> String {
    let joined = [integration, error_class, error_code, normalized].join("\u{1f}");
    let digest = Sha256::digest(joined.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The variable token starting at `i`, if any: its length in chars and its placeholder.
fn token_at(chars: &[char], i: usize) -> Option<(usize, &'static str)> {
    let prev = i.checked_sub(1).map(|p| chars[p]);
    if !prev.is_some_and(is_local_char)
        && let Some(len) = email_len(chars, i)
    {
        return Some((len, "<email>"));
    }
    if prev.is_some_and(|c| c.is_ascii_alphanumeric()) {
        // Inside a word: only digit runs vary ("order_123" is caught at the '_' boundary,
        // "abc123" here).
        return number_len(chars, i).map(|len| (len, "<n>"));
    }
    if let Some(len) = uuid_len(chars, i) {
        return Some((len, "<uuid>"));
    }
    let word = chars[i..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    let word_chars = &chars[i..i + word];
    if word == 34
        && word_chars[..2].iter().all(char::is_ascii_alphabetic)
        && all_hex(&word_chars[2..])
    {
        return Some((word, "<sid>"));
    }
    if let Some(len) = phone_len(chars, i) {
        return Some((len, "<phone>"));
    }
    if word >= 8
        && all_hex(word_chars)
        && word_chars.iter().any(char::is_ascii_alphabetic)
        && word_chars.iter().any(char::is_ascii_digit)
    {
        return Some((word, "<hex>"));
    }
    number_len(chars, i).map(|len| (len, "<n>"))
}

fn all_hex(chars: &[char]) -> bool {
    chars.iter().all(char::is_ascii_hexdigit)
}

fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._%+_-".contains(c)
}

/// Length of `local@domain.tld` at `i`; the domain needs two or more labels and no trailing dot.
pub(crate) fn email_len(chars: &[char], i: usize) -> Option<usize> {
    let local = chars[i..].iter().take_while(|&&c| is_local_char(c)).count();
    if local == 0 || chars.get(i + local) != Some(&'@') {
        return None;
    }
    let mut end = i + local + 1;
    let mut labels = 0;
    loop {
        let label = chars[end..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '-')
            .count();
        if label == 0 {
            break;
        }
        labels += 1;
        end += label;
        let next_is_label = chars.get(end + 1).is_some_and(char::is_ascii_alphanumeric);
        if chars.get(end) != Some(&'.') || !next_is_label {
            break;
        }
        end += 1;
    }
    (labels >= 2).then_some(end - i)
}

/// Length of an 8-4-4-4-12 hex UUID at `i`, not followed by more of a word.
fn uuid_len(chars: &[char], i: usize) -> Option<usize> {
    let mut pos = i;
    for (n, group) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if n > 0 {
            (chars.get(pos) == Some(&'-')).then_some(())?;
            pos += 1;
        }
        let hex = chars.get(pos..pos + group)?;
        all_hex(hex).then_some(())?;
        pos += group;
    }
    let ends = !chars.get(pos).is_some_and(char::is_ascii_alphanumeric);
    ends.then_some(pos - i)
}

/// Length of `+` and 7–15 digits at `i`.
fn phone_len(chars: &[char], i: usize) -> Option<usize> {
    if chars[i] != '+' {
        return None;
    }
    let digits = chars[i + 1..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    (7..=15).contains(&digits).then_some(1 + digits)
}

/// Length of a number at `i`: digits, optionally with a decimal part (`1.5`).
fn number_len(chars: &[char], i: usize) -> Option<usize> {
    let digits = |from: usize| {
        chars[from..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let whole = digits(i);
    if whole == 0 {
        return None;
    }
    let after = i + whole;
    let fraction = match chars.get(after) {
        Some('.') => digits(after + 1),
        _ => 0,
    };
    Some(if fraction > 0 {
        whole + 1 + fraction
    } else {
        whole
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_differing_in_identifiers_normalise_alike() {
        let a = normalize_error("The 'To' number +15005550001 is not valid (order 17, try 1.5s)");
        let b = normalize_error("The 'To' number +447700900123 is not valid (order 9, try 30s)");
        assert_eq!(
            a,
            "The 'To' number <phone> is not valid (order <n>, try <n>s)"
        );
        assert_eq!(a, b);
    }

    #[test]
    fn emails_uuids_sids_and_hex_get_placeholders() {
        let text = "mail to Ada.Lovelace+x@mail.example.org. failed; msg \
                    123e4567-e89b-12d3-a456-426614174000 sid SM0123456789abcdef0123456789ABCDEF \
                    trace=deadbeef42 ref order_12345";
        assert_eq!(
            normalize_error(text),
            "mail to <email>. failed; msg <uuid> sid <sid> trace=<hex> ref order_<n>"
        );
    }

    #[test]
    fn words_and_short_codes_are_kept_but_numbers_inside_words_vary() {
        assert_eq!(
            normalize_error("HTTP 500 from api-v2"),
            "HTTP <n> from api-v<n>"
        );
        assert_eq!(
            normalize_error("deadbeefcafe facade"),
            "deadbeefcafe facade"
        );
        assert_eq!(normalize_error("+12 is too short"), "+<n> is too short");
        assert_eq!(normalize_error("user@localhost"), "user@localhost");
    }

    #[test]
    fn whitespace_collapses_and_length_is_capped() {
        assert_eq!(normalize_error("  a \n\t b  "), "a b");
        let long = "word ".repeat(200);
        assert_eq!(normalize_error(&long).chars().count(), 300);
        assert_eq!(normalize_error("héllo wörld ✓"), "héllo wörld ✓");
    }

    #[test]
    fn group_ids_are_16_hex_and_separate_every_field() {
        let g = group_id("sms", "permanent", "21211", "bad <phone>");
        assert_eq!(g.len(), 16);
        assert!(g.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(g, group_id("sms", "permanent", "21211", "bad <phone>"));
        assert_ne!(g, group_id("sms", "permanent", "21212", "bad <phone>"));
        assert_ne!(group_id("a", "bc", "d", "e"), group_id("ab", "c", "d", "e"));
    }
}
