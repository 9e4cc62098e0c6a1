//! The `email.send` schema refuses at the ingress what could inject headers or is too big,
//! naming the field.

use serde_json::{Value, json};
use switchyard_contract::catalogue::{PayloadError, validate};

fn pointers(payload: &Value) -> Vec<String> {
    match validate("email.send", payload) {
        Ok(()) => Vec::new(),
        Err(PayloadError::Invalid { errors, .. }) => {
            errors.into_iter().map(|e| e.pointer).collect()
        }
        Err(other) => panic!("{other}"),
    }
}

fn valid() -> Value {
    json!({"to": ["parent@example.org"], "subject": "Hi", "text": "Hello"})
}

#[test]
fn line_breaks_in_header_fields_are_refused_by_field() {
    let mut subject = valid();
    subject["subject"] = json!("Hi\r\nBcc: victim@example.org");
    assert!(pointers(&subject).contains(&"/payload/subject".to_owned()));
    let mut name = valid();
    name["to"] = json!([{"email": "a@example.org", "name": "A\nB"}]);
    assert!(
        pointers(&name)
            .iter()
            .any(|p| p.starts_with("/payload/to/0")),
        "{:?}",
        pointers(&name)
    );
    let mut address = valid();
    address["cc"] = json!(["a@example.org\r\nBcc: b@example.org"]);
    assert!(
        pointers(&address)
            .iter()
            .any(|p| p.starts_with("/payload/cc/0"))
    );
    let mut header = valid();
    header["headers"] = json!({"X-Trace": "1\nFrom: evil@example.org"});
    assert!(pointers(&header).contains(&"/payload/headers/X-Trace".to_owned()));
}

#[test]
fn only_x_and_allow_listed_headers_are_accepted() {
    let mut from = valid();
    from["headers"] = json!({"From": "evil@example.org"});
    assert!(!pointers(&from).is_empty());
    let mut ok = valid();
    ok["headers"] = json!({"X-Campaign": "t1", "List-Unsubscribe": "<mailto:u@school.example>"});
    assert!(pointers(&ok).is_empty(), "{:?}", pointers(&ok));
}

#[test]
fn content_and_template_are_exclusive_and_attachments_bounded() {
    assert!(pointers(&valid()).is_empty());
    let mut both = valid();
    both["template"] = json!("report_card");
    assert!(!pointers(&both).is_empty());
    assert!(!pointers(&json!({"to": ["a@example.org"], "subject": "no body"})).is_empty());
    let mut big = valid();
    big["attachments"] = json!([{"filename": "a.bin", "content": "A".repeat(6_990_512)}]);
    assert!(
        pointers(&big)
            .iter()
            .any(|p| p.starts_with("/payload/attachments/0"))
    );
    let mut stored = valid();
    stored["attachments"] = json!([{"filename": "r.pdf", "storage": "s3://bucket/r.pdf"}]);
    assert!(pointers(&stored).is_empty(), "{:?}", pointers(&stored));
}

#[test]
fn a_bulk_over_ten_thousand_recipients_is_refused_naming_the_limit() {
    let recipients: Vec<Value> = (0..10_001)
        .map(|i| json!({"to": format!("p{i}@example.org")}))
        .collect();
    let bulk = json!({"template": "report_card", "recipients": recipients});
    let Err(PayloadError::Invalid { errors, .. }) = validate("email.bulk", &bulk) else {
        panic!("10,001 recipients accepted")
    };
    assert_eq!(errors[0].pointer, "/payload/recipients");
    assert!(errors[0].message.contains("10000"), "{}", errors[0].message);
    let mut ok = bulk;
    ok["recipients"] =
        json!([{"to": {"email": "a@example.org", "name": "A"}, "vars": {"student": "Ada"}}]);
    assert!(validate("email.bulk", &ok).is_ok());
    ok["recipients"][0]["to"]["name"] = json!("A\r\nBcc: b@example.org");
    assert!(validate("email.bulk", &ok).is_err());
}
