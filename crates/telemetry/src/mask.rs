//! Masking for logs and error messages: phone numbers, email addresses, secrets and URLs with
//! credentials. Whoever logs a value that could identify a parent or unlock an account calls one
//! of these first.

/// `+15551234567` → `+1555****567`: enough to tell numbers apart in a log, not to dial one.
pub fn phone(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 3..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// Masks every phone-number-looking run (`+` and 7–15 digits) inside free text, such as a
/// provider's error message ("The 'To' number +15005550001 is not valid").
pub fn phones_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('+') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let digits = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        if (7..=15).contains(&digits) {
            out.push_str(&phone(&rest[start..start + 1 + digits]));
        } else {
            out.push_str(&rest[start..start + 1 + digits]);
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// `ada.lovelace@example.org` → `a***@example.org`.
pub fn email(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// A secret is never shown, only whether it is set.
pub fn secret(value: &str) -> &'static str {
    if value.is_empty() {
        "<empty>"
    } else {
        "<redacted>"
    }
}

/// Removes the password from a URL such as `amqp://user:pass@host/vhost`, keeping the rest so
/// an error can still say which server it tried.
pub fn url(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_owned();
    };
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, None), |(a, p)| (a, Some(p)));
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return raw.to_owned();
    };
    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
    let masked = if userinfo.contains(':') {
        format!("{user}:***@{host}")
    } else {
        format!("{user}@{host}")
    };
    match path {
        Some(p) => format!("{scheme}://{masked}/{p}"),
        None => format!("{scheme}://{masked}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_keeps_country_prefix_and_last_digits() {
        assert_eq!(phone("+15551234567"), "+155*****567");
        assert_eq!(phone("+4412"), "*****");
        assert!(!phone("+447700900123").contains("7700900"));
    }

    #[test]
    fn phones_inside_text_are_masked() {
        let text = "The 'To' number +15005550001 is not valid; +12 is too short";
        assert_eq!(
            phones_in(text),
            "The 'To' number +150*****001 is not valid; +12 is too short"
        );
    }

    #[test]
    fn email_keeps_domain_only() {
        assert_eq!(email("ada.lovelace@example.org"), "a***@example.org");
        assert_eq!(email("not-an-email"), "***");
    }

    #[test]
    fn url_drops_password() {
        assert_eq!(
            url("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(
            url("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(url("postgres://u:p@w:rd@db"), "postgres://u:***@db");
        assert_eq!(url("http://127.0.0.1:8025"), "http://127.0.0.1:8025");
        assert_eq!(secret("token"), "<redacted>");
    }
}
