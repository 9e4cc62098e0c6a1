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

/// `1050` minor units of `currency` → `"10.50"` (PayPal's form). `None` for a negative amount.
pub fn to_decimal(minor: i64, currency: &str) -> Option<String> {
    if minor < 0 {
        return None;
    }
    let exp = exponent(currency);
    if exp == 0 {
        return Some(minor.to_string());
    }
    let unit = 10_i64.pow(exp);
    let width = exp as usize;
    Some(format!("{}.{:0width$}", minor / unit, minor % unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_become_exact_decimals() {
        assert_eq!(to_decimal(1050, "EUR").as_deref(), Some("10.50"));
        assert_eq!(to_decimal(7, "USD").as_deref(), Some("0.07"));
        assert_eq!(to_decimal(1500, "JPY").as_deref(), Some("1500"));
        assert_eq!(to_decimal(1234, "KWD").as_deref(), Some("1.234"));
        assert_eq!(to_decimal(-1, "USD"), None);
        for (minor, currency) in [(0, "USD"), (99_999, "EUR"), (5, "JPY"), (1001, "BHD")] {
            let decimal = to_decimal(minor, currency).unwrap();
            assert_eq!(
                to_minor(&decimal, currency),
                Some(minor),
                "{decimal} {currency}"
            );
        }
    }

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
