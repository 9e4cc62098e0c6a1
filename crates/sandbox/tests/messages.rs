//! The emulated Messages API: what a worker written against real Twilio sees.

mod common;

use std::time::Duration;

use common::{FROM, TO, account_url, messages_url, send, send_valid, status_json};

#[tokio::test]
async fn send_returns_201_with_a_twilio_message_resource() {
    let sandbox = common::sandbox().await;
    let response = send_valid(&sandbox, None).await;
    assert_eq!(response.headers()["content-type"], "application/json");
    let (status, json) = status_json(response).await;
    assert_eq!(status, 201);
    let sid = json["sid"].as_str().expect("sid is a string");
    assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");
    assert_eq!(json["account_sid"], sandbox.twilio().account_sid.as_str());
    assert_eq!(
        (json["to"].as_str(), json["from"].as_str()),
        (Some(TO), Some(FROM))
    );
    assert_eq!(json["body"], "Hello from school");
    assert_eq!(json["status"], "queued");
    assert_eq!(json["num_segments"], "1");
    assert_eq!(json["direction"], "outbound-api");
    assert_eq!(json["api_version"], "2010-04-01");
    assert!(json["price"].is_null() && json["error_code"].is_null());
    let account = &sandbox.twilio().account_sid;
    assert_eq!(
        json["uri"],
        format!("/2010-04-01/Accounts/{account}/Messages/{sid}.json")
    );
    let created = json["date_created"].as_str().expect("date_created");
    assert!(
        chrono::DateTime::parse_from_rfc2822(created).is_ok(),
        "{created}"
    );
}

#[tokio::test]
async fn wrong_or_missing_credentials_get_401_code_20003() {
    let sandbox = common::sandbox().await;
    let client = common::client();
    let form = [("To", TO), ("From", FROM), ("Body", "x")];
    let wrong = client
        .post(messages_url(&sandbox))
        .basic_auth(&sandbox.twilio().account_sid, Some("nope"));
    let missing = client.post(messages_url(&sandbox));
    for request in [wrong, missing] {
        let (status, json) = status_json(request.form(&form).send().await.expect("answer")).await;
        assert_eq!(status, 401);
        assert_eq!(json["code"], 20003);
        assert_eq!(json["message"], "Authenticate");
        assert_eq!(
            json["more_info"],
            "https://www.twilio.com/docs/errors/20003"
        );
        assert_eq!(json["status"], 401);
    }
    assert!(
        sandbox
            .requests()
            .iter()
            .all(|r| r.status == 401 && r.message_sid.is_none())
    );
}

#[tokio::test]
async fn another_accounts_path_is_404_code_20404() {
    let sandbox = common::sandbox().await;
    let twilio = sandbox.twilio();
    let url = format!(
        "{}/2010-04-01/Accounts/ACother/Messages.json",
        sandbox.base_url()
    );
    let response = common::client()
        .post(url)
        .basic_auth(&twilio.account_sid, Some(&twilio.auth_token))
        .form(&[("To", TO), ("From", FROM), ("Body", "x")])
        .send()
        .await
        .expect("answer");
    let (status, json) = status_json(response).await;
    assert_eq!((status, json["code"].as_u64()), (404, Some(20404)));
}

#[tokio::test]
async fn invalid_numbers_and_missing_fields_get_twilio_codes() {
    let sandbox = common::sandbox().await;
    let cases: [(&[(&str, &str)], u64); 5] = [
        (
            &[("To", "0800 FLOWERS"), ("From", FROM), ("Body", "x")],
            21211,
        ),
        (
            &[("To", "+15005550001"), ("From", FROM), ("Body", "x")],
            21211,
        ),
        (
            &[("To", "+15005550009"), ("From", FROM), ("Body", "x")],
            21614,
        ),
        (&[("To", TO), ("From", FROM)], 21602),
        (&[("To", TO), ("Body", "x")], 21603),
    ];
    for (form, code) in cases {
        let (status, json) = status_json(send(&sandbox, form).await).await;
        assert_eq!(
            (status, json["code"].as_u64()),
            (400, Some(code)),
            "{form:?} → {json}"
        );
        assert_eq!(json["status"], 400);
    }
    let (_, json) = status_json(send(&sandbox, cases[0].0).await).await;
    assert_eq!(
        json["message"],
        "The 'To' number 0800 FLOWERS is not a valid phone number."
    );
    assert!(
        sandbox
            .requests()
            .iter()
            .all(|r| r.status == 400 && r.message_sid.is_none())
    );
}

#[tokio::test]
async fn messaging_service_sid_stands_in_for_from() {
    let sandbox = common::sandbox().await;
    let form = [("To", TO), ("MessagingServiceSid", "MG0000"), ("Body", "x")];
    let (status, json) = status_json(send(&sandbox, &form).await).await;
    assert_eq!(status, 201);
    assert_eq!(json["messaging_service_sid"], "MG0000");
    assert!(json["from"].is_null());
}

#[tokio::test]
async fn requests_are_recorded_with_form_status_and_sid() {
    let sandbox = common::sandbox().await;
    let (_, created) = status_json(send_valid(&sandbox, None).await).await;
    send(&sandbox, &[("To", TO), ("From", FROM)]).await;
    let requests = sandbox.requests();
    assert_eq!(requests.len(), 2);
    let (first, second) = (&requests[0], &requests[1]);
    assert_eq!((first.seq, second.seq), (1, 2));
    assert_eq!(first.method, "POST");
    let path = format!(
        "/2010-04-01/Accounts/{}/Messages.json",
        sandbox.twilio().account_sid
    );
    assert_eq!(first.path, path);
    assert_eq!(first.form_value("To"), Some(TO));
    assert_eq!(first.form_value("Body"), Some("Hello from school"));
    assert_eq!(first.status, 201);
    assert_eq!(first.message_sid.as_deref(), created["sid"].as_str());
    assert_eq!((second.status, second.message_sid.as_deref()), (400, None));
    assert!(first.received_at <= second.received_at);
    sandbox.clear();
    assert!(sandbox.requests().is_empty());
}

#[tokio::test]
async fn a_request_whose_client_gave_up_is_recorded_and_still_processed() {
    let sandbox = common::sandbox().await;
    let faults = switchyard_sandbox::FaultConfig {
        latency_ms: 300,
        ..Default::default()
    };
    sandbox.set_faults(faults);
    let twilio = sandbox.twilio();
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(50))
        .build()
        .expect("client");
    let sent = impatient
        .post(messages_url(&sandbox))
        .basic_auth(&twilio.account_sid, Some(&twilio.auth_token))
        .form(&[("To", TO), ("From", FROM), ("Body", "x")])
        .send()
        .await;
    assert!(sent.is_err_and(|err| err.is_timeout()));
    let requests = sandbox.requests();
    assert_eq!(
        (requests.len(), requests[0].status),
        (1, 0),
        "recorded on receipt, not answered yet"
    );
    common::eventually("the abandoned request to be answered", || {
        sandbox.requests()[0].status == 201
    })
    .await;
    assert!(sandbox.requests()[0].message_sid.is_some());
}

#[tokio::test]
async fn account_probe_answers_with_the_account() {
    let sandbox = common::sandbox().await;
    let twilio = sandbox.twilio();
    let client = common::client();
    let response = client
        .get(account_url(&sandbox))
        .basic_auth(&twilio.account_sid, Some(&twilio.auth_token))
        .send()
        .await
        .expect("answer");
    let (status, json) = status_json(response).await;
    assert_eq!(status, 200);
    assert_eq!(json["sid"], twilio.account_sid.as_str());
    assert_eq!(
        (json["status"].as_str(), json["type"].as_str()),
        (Some("active"), Some("Full"))
    );
    assert!(json["friendly_name"].is_string());
    let unauthenticated = client
        .get(account_url(&sandbox))
        .send()
        .await
        .expect("answer");
    assert_eq!(unauthenticated.status(), 401);
    let recorded = sandbox.requests();
    assert_eq!(
        (recorded[0].method.as_str(), recorded[0].status),
        ("GET", 200)
    );
}
