//! PayPal money: `{"currency_code": "EUR", "value": "12.34"}`, a decimal string with exactly
//! as many decimals as the currency has at most, held here as integer minor units so sums
//! and comparisons are exact.

use serde_json::{Value, json};

/// Currencies PayPal takes without decimals.
const ZERO_DECIMAL: [&str; 3] = ["HUF", "JPY", "TWD"];

/// Decimals of `currency` in PayPal's amounts.
fn exponent(currency: &str) -> u32 {
    if ZERO_DECIMAL.contains(&currency) {
        0
    } else {
        2
    }
}

/// `value` in minor units of `currency`; `None` when it is not a plain decimal or has more
/// decimals than the currency allows.
pub(crate) fn to_minor(value: &str, currency: &str) -> Option<i64> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let places = exponent(currency);
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > places as usize {
        return None;
    }
    if value.contains('.') && fraction.is_empty() {
        return None;
    }
    let padded = format!("{fraction:0<width$}", width = places as usize);
    let scaled = whole.parse::<i64>().ok()?.checked_mul(10_i64.pow(places))?;
    scaled.checked_add(if padded.is_empty() {
        0
    } else {
        padded.parse().ok()?
    })
}

/// `{"currency_code", "value"}` for `minor` units of `currency`.
pub(crate) fn money(minor: i64, currency: &str) -> Value {
    let places = exponent(currency);
    let value = match places {
        0 => minor.to_string(),
        _ => {
            let unit = 10_i64.pow(places);
            format!(
                "{}.{:0width$}",
                minor / unit,
                minor % unit,
                width = places as usize
            )
        }
    };
    json!({ "currency_code": currency, "value": value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_exact_in_the_currency_s_decimals() {
        assert_eq!(to_minor("12.34", "EUR"), Some(1234));
        assert_eq!(to_minor("12.3", "EUR"), Some(1230));
        assert_eq!(to_minor("12", "USD"), Some(1200));
        assert_eq!(to_minor("500", "JPY"), Some(500));
        assert_eq!(to_minor("5.5", "JPY"), None);
        assert_eq!(to_minor("1.234", "EUR"), None);
        assert_eq!(to_minor("-1.00", "EUR"), None);
        assert_eq!(to_minor("1.", "EUR"), None);
        assert_eq!(money(1205, "EUR")["value"], "12.05");
        assert_eq!(money(500, "JPY")["value"], "500");
    }
}
