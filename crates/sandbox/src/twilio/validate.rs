//! Twilio's request checks: HTTP Basic credentials, the account in the path, and the
//! `Messages` form fields, each failing with the error code real Twilio uses.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use http::header::AUTHORIZATION;

use super::error::TwilioError;
use crate::config::TwilioConfig;

/// Twilio's limit on a message body, after concatenation of segments.
const MAX_BODY_CHARS: usize = 1600;

/// Accepts the request only with this account's credentials and its SID in the path.
pub(crate) fn authorize(
    headers: &HeaderMap,
    path_account: &str,
    path: &str,
    twilio: &TwilioConfig,
) -> Result<(), TwilioError> {
    let expected = (twilio.account_sid.as_str(), twilio.auth_token.as_str());
    match basic_credentials(headers) {
        Some((user, password)) if (user.as_str(), password.as_str()) == expected => {}
        Some(_) | None => return Err(TwilioError::authenticate()),
    }
    if path_account != twilio.account_sid {
        return Err(TwilioError::not_found(path));
    }
    Ok(())
}

/// `(user, password)` from an `Authorization: Basic …` header, if well-formed.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// A validated "send a message" request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MessageRequest {
    pub(crate) to: String,
    pub(crate) from: Option<String>,
    pub(crate) messaging_service_sid: Option<String>,
    pub(crate) body: String,
    pub(crate) status_callback: Option<String>,
}

/// Twilio's magic test numbers as `To`: they fail the same way with real Twilio test
/// credentials, so permanent-error handling can be exercised with no special cases.
/// `{to}` in a message stands for the number.
const MAGIC_TO: [(&str, u32, &str); 5] = [
    (
        "+15005550001",
        21211,
        "The 'To' number {to} is not a valid phone number.",
    ),
    (
        "+15005550002",
        21612,
        "The 'To' phone number: {to}, is not currently reachable via SMS.",
    ),
    (
        "+15005550003",
        21408,
        "Permission to send an SMS has not been enabled for the region indicated by the 'To' \
         number: {to}.",
    ),
    (
        "+15005550004",
        21610,
        "Attempt to send to unsubscribed recipient",
    ),
    (
        "+15005550009",
        21614,
        "'To' number is not a valid mobile number",
    ),
];

/// Checks the `Messages` form the way Twilio does.
pub(crate) fn message(form: &[(String, String)]) -> Result<MessageRequest, TwilioError> {
    let field = |name: &str| non_empty(form, name);
    let to = field("To").ok_or_else(|| invalid(21604, "A 'To' phone number is required."))?;
    check_to(&to)?;
    let (from, messaging_service_sid) = (field("From"), field("MessagingServiceSid"));
    if from.is_none() && messaging_service_sid.is_none() {
        return Err(invalid(21603, "A 'From' phone number is required."));
    }
    let body = field("Body").ok_or_else(|| invalid(21602, "Message body is required."))?;
    if body.chars().count() > MAX_BODY_CHARS {
        let message = "The concatenated message body exceeds the 1600 character limit.";
        return Err(invalid(21617, message));
    }
    let status_callback = field("StatusCallback");
    if let Some(url) = &status_callback {
        check_callback_url(url)?;
    }
    Ok(MessageRequest {
        to,
        from,
        messaging_service_sid,
        body,
        status_callback,
    })
}

/// The first value of `name`, unless blank: Twilio treats a blank field as a missing one.
fn non_empty(form: &[(String, String)], name: &str) -> Option<String> {
    let value = form
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, v)| v.trim());
    value.filter(|v| !v.is_empty()).map(str::to_owned)
}

/// A 400 with Twilio's `code`.
fn invalid(code: u32, message: impl Into<String>) -> TwilioError {
    TwilioError::new(400, code, message)
}

/// E.164 syntax, then the magic test numbers.
fn check_to(to: &str) -> Result<(), TwilioError> {
    if !is_e164(to) {
        return Err(invalid(
            21211,
            format!("The 'To' number {to} is not a valid phone number."),
        ));
    }
    match MAGIC_TO.iter().find(|(number, _, _)| *number == to) {
        Some((_, code, message)) => Err(invalid(*code, message.replace("{to}", to))),
        None => Ok(()),
    }
}

/// `+`, then 2 to 15 digits, the first not 0.
fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Twilio refuses a `StatusCallback` it could never call.
fn check_callback_url(url: &str) -> Result<(), TwilioError> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(()),
        Ok(_) | Err(_) => Err(invalid(
            21609,
            format!("The StatusCallback URL {url} is not a valid URL."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn code_of(fields: &[(&str, &str)]) -> u32 {
        let err = message(&form(fields)).expect_err("request should be refused");
        assert_eq!(err.status(), 400);
        err.code()
    }

    #[test]
    fn e164_syntax() {
        assert!(is_e164("+15551234567") && is_e164("+44") && is_e164("+123456789012345"));
        assert!(!is_e164("15551234567") && !is_e164("+0555") && !is_e164("+1"));
        assert!(!is_e164("+1234567890123456") && !is_e164("+1555-123") && !is_e164("+"));
    }

    #[test]
    fn refuses_like_twilio() {
        let ok = [
            ("To", "+15551234567"),
            ("From", "+15550001111"),
            ("Body", "hi"),
        ];
        assert!(message(&form(&ok)).is_ok());
        assert_eq!(code_of(&[("From", "+1555"), ("Body", "hi")]), 21604);
        assert_eq!(
            code_of(&[("To", "555"), ("From", "+1555"), ("Body", "hi")]),
            21211
        );
        assert_eq!(
            code_of(&[("To", "+15005550009"), ("From", "+1555"), ("Body", "x")]),
            21614
        );
        assert_eq!(code_of(&[("To", "+15551234567"), ("Body", "hi")]), 21603);
        assert_eq!(
            code_of(&[("To", "+15551234567"), ("From", "+1555"), ("Body", " ")]),
            21602
        );
        let bad_url = [
            ("To", "+15551234567"),
            ("From", "+1555"),
            ("Body", "x"),
            ("StatusCallback", "ftp://x"),
        ];
        assert_eq!(code_of(&bad_url), 21609);
    }

    #[test]
    fn messaging_service_replaces_from() {
        let fields = [
            ("To", "+15551234567"),
            ("MessagingServiceSid", "MG1"),
            ("Body", "hi"),
        ];
        let request = message(&form(&fields)).expect("valid request");
        assert_eq!(
            (request.from, request.messaging_service_sid.as_deref()),
            (None, Some("MG1"))
        );
    }

    #[test]
    fn credentials_must_match_and_account_must_be_ours() {
        let twilio = TwilioConfig::default();
        let mut headers = HeaderMap::new();
        let path = "/2010-04-01/Accounts/x.json";
        let err = authorize(&headers, &twilio.account_sid, path, &twilio).expect_err("no auth");
        assert_eq!(err, TwilioError::authenticate());
        let token = STANDARD.encode(format!("{}:{}", twilio.account_sid, twilio.auth_token));
        let value = format!("Basic {token}").parse().expect("header value");
        headers.insert(AUTHORIZATION, value);
        assert_eq!(
            authorize(&headers, &twilio.account_sid, path, &twilio),
            Ok(())
        );
        let err = authorize(&headers, "ACother", path, &twilio).expect_err("other account");
        assert_eq!(err.status(), 404);
    }
}
