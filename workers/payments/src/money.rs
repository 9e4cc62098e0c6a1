//! Decimal amounts (PayPal's `"10.50"`) to minor units, exactly: integer arithmetic on the
//! digits, with the currency's ISO 4217 exponent. No floats anywhere near money.

/// Digits after the decimal point in `currency` (ISO 4217, upper case): 0 for the zero-decimal
/// currencies, 3 for the Gulf dinars and friends, 2 for the rest.
pub fn exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// `"10.50"` in `currency` → `1050`. Refuses signs, exponents, empty parts, and more fraction
/// digits than the currency has (unless the extra ones are zeros: `"10.500"` EUR is 1050).
pub fn to_minor(decimal: &str, currency: &str) -> Option<i64> {
    let exp = exponent(currency) as usize;
    let (whole, fraction) = decimal.split_once('.').unwrap_or((decimal, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    if decimal.contains('.') && fraction.is_empty() {
        return None;
    }
    let (kept, extra) = fraction.split_at(fraction.len().min(exp));
    if extra.bytes().any(|b| b != b'0') {
        return None;
    }
    let mut minor: i64 = 0;
    let padded = format!("{whole}{kept:0<exp$}");
    for b in padded.bytes() {
        minor = minor.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    Some(minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_with_the_currency_exponent() {
        assert_eq!(to_minor("10.50", "EUR"), Some(1050));
        assert_eq!(to_minor("10.5", "EUR"), Some(1050));
        assert_eq!(to_minor("10", "USD"), Some(1000));
        assert_eq!(to_minor("0.01", "USD"), Some(1));
        assert_eq!(to_minor("1500", "JPY"), Some(1500));
        assert_eq!(to_minor("1500.00", "JPY"), Some(1500));
        assert_eq!(to_minor("1.234", "KWD"), Some(1234));
        assert_eq!(to_minor("10.500", "EUR"), Some(1050));
    }

    #[test]
    fn refuses_what_is_not_an_exact_amount() {
        assert_eq!(to_minor("10.505", "EUR"), None);
        assert_eq!(to_minor("1500.5", "JPY"), None);
        assert_eq!(to_minor("-1.00", "USD"), None);
        assert_eq!(to_minor("1e3", "USD"), None);
        assert_eq!(to_minor("", "USD"), None);
        assert_eq!(to_minor(".5", "USD"), None);
        assert_eq!(to_minor("5.", "USD"), None);
        assert_eq!(to_minor("99999999999999999999", "USD"), None);
    }
}
