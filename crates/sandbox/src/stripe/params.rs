//! Stripe's form parameters, bracket notation included (`metadata[fee_id]=F1`,
//! `line_items[0][price_data][unit_amount]=1234`), read by their full names so an error can
//! name exactly the parameter Stripe would name.

use serde_json::{Map, Value};

use super::error::StripeError;

/// The form fields of one request, in the order sent.
#[derive(Clone, Debug)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Wraps decoded form fields.
    pub(crate) fn new(form: Vec<(String, String)>) -> Self {
        Self(form)
    }

    /// The value of `name`; an empty value counts as unset, as at Stripe.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        let mut values = self.0.iter().filter(|(key, _)| key == name);
        values.find_map(|(_, value)| (!value.is_empty()).then_some(value.as_str()))
    }

    /// The value of a required `name`.
    pub(crate) fn required(&self, name: &str) -> Result<&str, StripeError> {
        self.get(name).ok_or_else(|| StripeError::missing(name))
    }

    /// `name` as a positive integer (amounts, quantities), if sent.
    pub(crate) fn positive(&self, name: &str) -> Result<Option<i64>, StripeError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        match value.parse::<i64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            Ok(_) => Err(StripeError::invalid(
                400,
                "This value must be greater than or equal to 1.",
            )
            .code("parameter_invalid_integer")
            .param(name)),
            Err(_) => Err(StripeError::not_an_integer(name, value)),
        }
    }

    /// A required positive integer.
    pub(crate) fn required_positive(&self, name: &str) -> Result<i64, StripeError> {
        self.positive(name)?
            .ok_or_else(|| StripeError::missing(name))
    }

    /// The `metadata[key]=value` pairs as Stripe's `metadata` object.
    pub(crate) fn metadata(&self) -> Value {
        self.metadata_at("metadata")
    }

    /// The `{prefix}[key]=value` pairs as a `metadata` object, for metadata meant for another
    /// object (`payment_intent_data[metadata]`).
    pub(crate) fn metadata_at(&self, prefix: &str) -> Value {
        let opening = format!("{prefix}[");
        let pairs = self.0.iter().filter_map(|(key, value)| {
            let inner = key.strip_prefix(&opening)?.strip_suffix(']')?;
            (!inner.contains('[')).then(|| (inner.to_owned(), Value::from(value.as_str())))
        });
        Value::Object(pairs.collect::<Map<_, _>>())
    }

    /// Whether any `{prefix}[…]` parameter was sent (e.g. `line_items`).
    pub(crate) fn has_list(&self, prefix: &str) -> bool {
        let opening = format!("{prefix}[");
        self.0.iter().any(|(key, _)| key.starts_with(&opening))
    }

    /// The request in canonical form (method, path, fields sorted), so the same request sent
    /// with fields in another order is still the same request for its idempotency key.
    pub(crate) fn fingerprint(&self, method: &str, path: &str) -> String {
        let mut fields = self.0.clone();
        fields.sort();
        let encoded = serde_urlencoded::to_string(&fields).unwrap_or_default();
        format!("{method} {path}?{encoded}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(fields: &[(&str, &str)]) -> Params {
        Params::new(
            fields
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        )
    }

    #[test]
    fn reads_brackets_metadata_and_integers_naming_the_field() {
        let p = params(&[
            ("line_items[0][quantity]", "2"),
            ("metadata[fee_id]", "F1"),
            ("amount", "x"),
        ]);
        assert_eq!(p.required_positive("line_items[0][quantity]").ok(), Some(2));
        assert_eq!(p.metadata(), json!({"fee_id": "F1"}));
        let nested = params(&[
            ("metadata[reference]", "fee-1"),
            ("payment_intent_data[metadata][reference]", "fee-1"),
            ("payment_intent_data[metadata][tenant]", "lincoln"),
        ]);
        assert_eq!(
            nested.metadata_at("payment_intent_data[metadata]"),
            json!({"reference": "fee-1", "tenant": "lincoln"})
        );
        assert_eq!(nested.metadata(), json!({"reference": "fee-1"}));
        assert!(p.has_list("line_items") && !p.has_list("items"));
        let err = p.positive("amount").expect_err("not an integer").reply();
        assert_eq!(err.body.expect("body")["error"]["param"], "amount");
    }

    #[test]
    fn fingerprint_ignores_field_order_only() {
        let a = params(&[("a", "1"), ("b", "2")]).fingerprint("POST", "/v1/refunds");
        let b = params(&[("b", "2"), ("a", "1")]).fingerprint("POST", "/v1/refunds");
        let c = params(&[("a", "1"), ("b", "3")]).fingerprint("POST", "/v1/refunds");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
