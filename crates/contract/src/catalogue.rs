//! The message catalogue: every message type, its JSON Schema (kept in `schemas/`), and
//! payload validation that names the failing fields.

use std::sync::LazyLock;

use serde_json::Value;

use crate::envelope::FieldError;

/// One message type.
#[derive(Debug)]
pub struct MessageType {
    /// `<integration>.<action>`.
    pub name: &'static str,
    /// The schema document (with `description` and `examples`).
    pub schema: Value,
    validator: jsonschema::Validator,
}

/// Why a payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// No schema exists for this type: nobody handles it.
    #[error("unknown message type `{0}`; see the message catalogue (docs/messages.md)")]
    UnknownType(String),
    /// The payload breaks the type's schema.
    #[error("payload does not match the schema of `{message_type}`")]
    Invalid {
        /// The type whose schema failed.
        message_type: String,
        /// Each failing field, as a pointer under `/payload`.
        errors: Vec<FieldError>,
    },
}

/// The schema files, embedded so validation needs no files at run time.
const SCHEMAS: &[(&str, &str)] = &[
    ("sms.send", include_str!("../schemas/sms.send.json")),
    ("sms.status", include_str!("../schemas/sms.status.json")),
    ("email.send", include_str!("../schemas/email.send.json")),
    ("email.bulk", include_str!("../schemas/email.bulk.json")),
    ("push.send", include_str!("../schemas/push.send.json")),
    (
        "push.token_invalidated",
        include_str!("../schemas/push.token_invalidated.json"),
    ),
    ("stripe.event", include_str!("../schemas/stripe.event.json")),
    ("paypal.event", include_str!("../schemas/paypal.event.json")),
    ("zoom.event", include_str!("../schemas/zoom.event.json")),
    ("graph.event", include_str!("../schemas/graph.event.json")),
    (
        "webhook.event",
        include_str!("../schemas/webhook.event.json"),
    ),
    (
        "payments.checkout.create",
        include_str!("../schemas/payments.checkout.create.json"),
    ),
    (
        "payments.refund",
        include_str!("../schemas/payments.refund.json"),
    ),
    (
        "payments.subscription.create",
        include_str!("../schemas/payments.subscription.create.json"),
    ),
    (
        "payments.subscription.cancel",
        include_str!("../schemas/payments.subscription.cancel.json"),
    ),
    (
        "erp.checkout.created",
        include_str!("../schemas/erp.checkout.created.json"),
    ),
    (
        "erp.subscription.created",
        include_str!("../schemas/erp.subscription.created.json"),
    ),
    (
        "erp.payment.succeeded",
        include_str!("../schemas/erp.payment.succeeded.json"),
    ),
    (
        "erp.payment.failed",
        include_str!("../schemas/erp.payment.failed.json"),
    ),
    (
        "erp.refund.succeeded",
        include_str!("../schemas/erp.refund.succeeded.json"),
    ),
    (
        "erp.dispute.opened",
        include_str!("../schemas/erp.dispute.opened.json"),
    ),
    (
        "erp.subscription.updated",
        include_str!("../schemas/erp.subscription.updated.json"),
    ),
    (
        "erp.subscription.canceled",
        include_str!("../schemas/erp.subscription.canceled.json"),
    ),
];

static CATALOGUE: LazyLock<Vec<MessageType>> = LazyLock::new(|| {
    SCHEMAS
        .iter()
        .map(|(name, text)| {
            let schema: Value = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("schemas/{name}.json is not JSON: {e}"));
            let validator = jsonschema::validator_for(&schema)
                .unwrap_or_else(|e| panic!("schemas/{name}.json is not a valid schema: {e}"));
            MessageType {
                name,
                schema,
                validator,
            }
        })
        .collect()
});

/// Every known message type.
pub fn types() -> &'static [MessageType] {
    &CATALOGUE
}

/// The message type named `name`, if known.
pub fn find(name: &str) -> Option<&'static MessageType> {
    CATALOGUE.iter().find(|t| t.name == name)
}

/// Validates `payload` against the schema of `message_type`.
pub fn validate(message_type: &str, payload: &Value) -> Result<(), PayloadError> {
    let t = find(message_type).ok_or_else(|| PayloadError::UnknownType(message_type.into()))?;
    t.check(payload).map_err(|errors| PayloadError::Invalid {
        message_type: message_type.into(),
        errors,
    })
}

impl MessageType {
    /// The `examples` of the schema.
    pub fn examples(&self) -> &[Value] {
        self.schema["examples"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Whether Switchyard publishes this type for the ERP (an event such as
    /// `push.token_invalidated`) rather than consuming it: no worker queue is bound to it.
    /// Marked by `"x-switchyard-direction": "outbound"` in the schema.
    pub fn is_outbound(&self) -> bool {
        self.schema["x-switchyard-direction"] == "outbound"
    }

    /// The schema's one-line description.
    pub fn description(&self) -> &str {
        self.schema["description"].as_str().unwrap_or_default()
    }

    fn check(&self, payload: &Value) -> Result<(), Vec<FieldError>> {
        let errors: Vec<FieldError> = self
            .validator
            .iter_errors(payload)
            .map(|e| FieldError::new(format!("/payload{}", e.instance_path()), e.to_string()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_example_matches_its_schema() {
        assert!(!types().is_empty());
        for t in types() {
            assert!(!t.examples().is_empty(), "{} has no example", t.name);
            assert!(!t.description().is_empty(), "{} has no description", t.name);
            for example in t.examples() {
                validate(t.name, example).unwrap_or_else(|e| panic!("{}: {e:?}", t.name));
            }
        }
    }

    #[test]
    fn schema_violations_name_the_fields() {
        let err = validate("sms.send", &json!({"to": "0123", "body": ""})).unwrap_err();
        let PayloadError::Invalid { errors, .. } = err else {
            panic!("expected Invalid")
        };
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert!(pointers.contains(&"/payload/to"), "{pointers:?}");
        assert!(pointers.contains(&"/payload/body"), "{pointers:?}");
    }

    #[test]
    fn body_and_template_are_exclusive() {
        let both = json!({"to": "+15005550006", "body": "x", "template": "fee_reminder"});
        assert!(validate("sms.send", &both).is_err());
        assert!(validate("sms.send", &json!({"to": "+15005550006"})).is_err());
    }

    #[test]
    fn unknown_type_is_its_own_error() {
        let err = validate("fax.send", &json!({})).unwrap_err();
        assert!(matches!(err, PayloadError::UnknownType(t) if t == "fax.send"));
    }

    #[test]
    fn message_catalogue_doc_lists_every_type() {
        let doc = include_str!("../../../docs/messages.md");
        for t in types() {
            assert!(
                doc.contains(&format!("`{}`", t.name)),
                "docs/messages.md lacks {}",
                t.name
            );
        }
    }
}
